from django.core.management.base import BaseCommand

from generations import pipeline


class Command(BaseCommand):
    help = (
        "Resume every generation whose task was lost: check fal for requests not looked at recently, "
        "restart interrupted archives and submissions. Safe to run at any time (beat runs it every minute)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="only generations untouched for this long (default: RECONCILE_STALE_AFTER)",
        )

    def handle(self, *args, older_than, **options):
        report = pipeline.reconcile(stale_after=older_than)
        self.stdout.write(str(report))
