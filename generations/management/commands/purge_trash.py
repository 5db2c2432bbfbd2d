from django.conf import settings
from django.core.management.base import BaseCommand

from generations import trash


class Command(BaseCommand):
    help = "Delete generations (and their archived files) in the trash longer than TRASH_RETENTION_DAYS."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="empty the whole trash, whatever the age")

    def handle(self, *args, **options):
        report = trash.purge(everything=options["all"])
        scope = "all trashed" if options["all"] else f"trashed over {settings.TRASH_RETENTION_DAYS} days ago"
        self.stdout.write(f"Purged {report.deleted} generation(s) {scope}; {report.failed} could not be deleted.")
