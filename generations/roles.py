"""The two team roles, as Django groups: "viewer" sees everything, "generator" may also spend.

Budgets and deletion stay with admins (superusers, or whoever is given those permissions).
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

VIEW = ["view_sourceimage", "view_prompt", "view_generation", "view_batch", "view_auditevent", "view_budget"]
ROLES = {
    "viewer": VIEW,
    "generator": [*VIEW, "generate", "cancel_generation", "retry_generation", "change_sourceimage", "add_prompt"],
}


def ensure_groups(**kwargs) -> None:
    """Create or complete the groups (run after every migrate; adds, never removes)."""
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(content_type__app_label="generations", codename__in=codenames)
        group.permissions.add(*permissions)
