from django.conf import settings


def fal_mode(request):
    """Pages say clearly when videos come from the local simulator rather than fal.ai."""
    return {"fal_simulated": settings.FAL_SIMULATED}
