"""Bulk import of source images from a folder, with validation, dedupe and a summary."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generations import services
from generations.images import ALL_EXTENSIONS

# Files are picked by name; each is then checked by content (a PNG named .jpg is refused).
EXTENSIONS = ALL_EXTENSIONS
SHOWN_IGNORED = 10


class Command(BaseCommand):
    help = "Import every JPEG/PNG/WebP image under DIR into the library (the same content is kept once)."

    def add_arguments(self, parser):
        parser.add_argument("directory", metavar="DIR")
        parser.add_argument("--recursive", action="store_true", help="descend into sub-folders")

    def handle(self, *args, directory, recursive, **options):
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder.")
        pattern = "**/*" if recursive else "*"
        paths = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in EXTENSIONS)
        skipped_names = sorted(p.name for p in root.glob(pattern) if p.is_file() and p.suffix.lower() not in EXTENSIONS)
        created = duplicates = 0
        refused: list[tuple[Path, str]] = []
        for path in paths:
            try:
                with path.open("rb") as fh:
                    _, is_new = services.source_image_ingest(file=fh, filename=path.name, title=path.stem)
            except ValidationError as exc:
                refused.append((path, " ".join(exc.messages)))
                continue
            created += is_new
            duplicates += not is_new
        for path, reason in refused:
            self.stderr.write(f"refused {path}: {reason}")
        if skipped_names:
            more = f" and {len(skipped_names) - SHOWN_IGNORED} more" if len(skipped_names) > SHOWN_IGNORED else ""
            self.stderr.write(
                f"ignored (not named {', '.join(sorted(EXTENSIONS))}): {', '.join(skipped_names[:SHOWN_IGNORED])}{more}"
            )
        self.stdout.write(
            f"{len(paths)} image file(s) found: {created} imported, {duplicates} already in the library, "
            f"{len(refused)} refused; {len(skipped_names)} other file(s) ignored."
        )
        if refused and not created and not duplicates:
            raise CommandError("No image could be imported.")
