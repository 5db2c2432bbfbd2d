from django.conf import settings

from .permissions import rules_for


def fal_mode(request):
    """Pages say clearly when videos come from the local simulator rather than fal.ai."""
    return {"fal_simulated": settings.FAL_SIMULATED}


def permissions(request):
    """`can`: the gallery's rules for this user (generations/permissions.py), e.g. `{% if can.open_trash %}`."""
    return {"can": rules_for(request)}
