"""`manage.py fal_simulator`: the local fal simulator in the foreground (see fal_simulator/cli.py)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from fal_simulator import cli


class Command(BaseCommand):
    help = "Run the local fal.ai simulator (HTTPS, fal queue protocol) until Ctrl-C; prints the client environment."
    requires_system_checks = []  # a standalone server: no models, no database

    def add_arguments(self, parser):
        state_dir = getattr(settings, "FAL_SIMULATOR_STATE_DIR", None)
        cli.add_arguments(parser, default_state_dir=str(state_dir) if state_dir else None)

    def handle(self, *args, **options):
        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=options["log_level"].upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
        logging.getLogger("fal_simulator").setLevel(options["log_level"].upper())
        cli.serve(options, self.stdout)
