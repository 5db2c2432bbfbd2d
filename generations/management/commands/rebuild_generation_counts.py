"""Check or rebuild the per-status generation counts the dashboard reads (GenerationStatusCount).

    manage.py rebuild_generation_counts           # re-install missing triggers, recount, say what was off
    manage.py rebuild_generation_counts --check   # only compare with a full recount; exit 1 if they differ

Database triggers keep the counts exact (migration 0007), so this is for repairs: after restoring
the counts table from elsewhere, after raw maintenance with triggers disabled, or on SQLite after a
migration that remade the generation table without re-installing them. The rebuild blocks writes
to the generation table for the time of one full count (about a second per million rows).
"""

from __future__ import annotations

import importlib

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from generations import dashboard

COUNTS_MIGRATION = "generations.migrations.0007_generation_status_counts"


class Command(BaseCommand):
    help = "Recount the per-status generation counts (and video bytes) the dashboard reads from the generation table."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Compare only; exit 1 when they differ.")
        parser.add_argument("--database", default="default", help="The database alias (default: default).")

    def handle(self, *args, check: bool, database: str, **options):
        missing = dashboard.missing_count_triggers(using=database)
        if check:
            drift = dashboard.count_drift(using=database)
            for line in self._describe(drift):
                self.stdout.write(line)
            if missing:
                self.stdout.write(f"Missing triggers: {', '.join(missing)} (run this command without --check).")
            if drift or missing:
                raise CommandError("The generation counts are not exact.")
            self.stdout.write("The generation counts match a full recount.")
            return
        if missing:
            importlib.import_module(COUNTS_MIGRATION).install_triggers(connections[database])
            self.stdout.write(f"Re-installed the triggers: {', '.join(missing)}.")
        drift = dashboard.rebuild_counts(using=database)
        for line in self._describe(drift):
            self.stdout.write(line)
        self.stdout.write("Rebuilt the generation counts." if drift else "The generation counts were exact; rebuilt.")

    @staticmethod
    def _describe(drift: list[dashboard.CountDrift]) -> list[str]:
        return [
            f"{one.status}: kept {one.kept[0]} ({one.kept[1]} bytes), counted {one.counted[0]} ({one.counted[1]} bytes)"
            for one in drift
        ]
