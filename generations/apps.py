from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Generations"

    def ready(self):
        from .roles import ensure_groups

        # After migrate, when the permissions exist: the "viewer" and "generator" groups.
        post_migrate.connect(ensure_groups, sender=self, dispatch_uid="generations.ensure_groups")
        post_migrate.connect(heal_count_triggers, sender=self, dispatch_uid="generations.heal_count_triggers")


def heal_count_triggers(sender, using="default", **kwargs):
    """Re-install the triggers that keep the dashboard's per-status counts, if a migration lost them.

    SQLite has no ALTER for most changes: Django rebuilds the generation table to add or alter
    a field, and the table's triggers go with the old one. Then the counts are recounted."""
    from django.core.management import call_command
    from django.db import connections

    from . import dashboard

    if "generations_generationstatuscount" not in connections[using].introspection.table_names():
        return  # migrated back before the counts existed
    if dashboard.missing_count_triggers(using=using):
        call_command("rebuild_generation_counts", database=using, verbosity=0)
