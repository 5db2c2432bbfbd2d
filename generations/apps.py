from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Generations"

    def ready(self):
        from .roles import ensure_groups

        # After migrate, when the permissions exist: the "viewer" and "generator" groups.
        post_migrate.connect(ensure_groups, sender=self, dispatch_uid="generations.ensure_groups")
