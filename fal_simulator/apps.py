from django.apps import AppConfig


class FalSimulatorConfig(AppConfig):
    name = "fal_simulator"
    verbose_name = "fal simulator"
