"""Seed a fresh local install: the demo admin account, sample photographs and prompts.

Idempotent: run on every `make run`; existing rows are kept (images are deduplicated
by content, prompts by text). Refuses to create the admin unless DEBUG is on.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from generations import services

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_IMAGES = {
    "astronaut.png": "Astronaut portrait",
    "coffee.png": "Cup of coffee",
    "chelsea.png": "Chelsea the cat",
    "hubble_deep_field.jpg": "Hubble deep field",
}
DEMO_PROMPTS = [
    ("Slow push-in", "The camera slowly pushes in while soft light drifts across the scene."),
    ("Gentle breeze", "A gentle breeze moves through the scene; subtle natural motion, calm mood."),
    ("Steam and light", "Steam rises softly and morning light flickers, cinematic shallow depth of field."),
]


class Command(BaseCommand):
    help = "Create the demo admin (DEBUG only), sample source images and prompts."

    def handle(self, *args, **options):
        admin = self._ensure_admin()
        for filename, title in DEMO_IMAGES.items():
            with open(DEMO_DIR / filename, "rb") as fh:
                services.source_image_ingest(file=fh, filename=filename, title=title, uploaded_by=admin)
        for title, text in DEMO_PROMPTS:
            services.prompt_get_or_create(text=text, title=title, created_by=admin)
        self.stdout.write(f"Demo library ready: {len(DEMO_IMAGES)} images, {len(DEMO_PROMPTS)} prompts.")

    def _ensure_admin(self):
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "")
        if not settings.DEBUG or not password:
            raise CommandError(
                "The demo admin is only created in local development (DEBUG on and DEMO_ADMIN_PASSWORD set, "
                "as `make run` does). Use `manage.py createsuperuser` elsewhere."
            )
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@localhost"}
        )
        if created or not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])
        return admin
