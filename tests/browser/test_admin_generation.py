"""In a real browser (Debian's headless Chromium): an admin logs in, generates a batch
from the admin against the fal simulator, watches it complete in the live-refreshing
list, and finds it on the dashboard. Screenshots go to test-output/ (a CI artifact)."""

from __future__ import annotations

import io

import pytest

from generations import services
from generations.models import Generation
from tests.conftest import OUTPUT_DIR, make_image_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
S = Generation.Status


def test_admin_generates_a_batch_and_sees_it_complete_on_the_dashboard(sim, page, live_server, superuser):
    from playwright.sync_api import expect

    image, _ = services.source_image_ingest(
        file=io.BytesIO(make_image_bytes(640, 360)), filename="hills.png", title="Hills at dawn"
    )
    OUTPUT_DIR.mkdir(exist_ok=True)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Seedance Studio")
    expect(page.locator("#site-name")).to_contain_text("simulated fal")

    # From the image library: select the image, "Generate videos".
    page.goto(f"{live_server.url}/admin/generations/sourceimage/")
    page.check(f"input.action-select[value='{image.pk}']")
    page.select_option("select[name=action]", "generate_videos")
    page.click("button[name=index]")

    page.fill("textarea[name=typed_prompts]", "The light drifts slowly across the hills.")
    page.select_option("select[name=resolution]", "480p")
    page.select_option("select[name=duration]", "2")
    page.fill("input[name=variations]", "2")
    page.click("input[name=_preview]")
    generate = page.locator("input[name=_generate]")
    expect(generate).to_have_value("Generate 2 videos ($0.04)")  # 2 × 480p 16:9 2 s at $0.0192
    page.screenshot(path=str(OUTPUT_DIR / "admin-generate-preview.png"), full_page=True)
    generate.click()

    # The batch's list refreshes itself until both are completed (no reload by the test).
    expect(page.locator(".messagelist")).to_contain_text("2")
    badges = page.locator("span.gen-badge[data-status=completed]")
    expect(badges).to_have_count(2, timeout=90_000)
    page.screenshot(path=str(OUTPUT_DIR / "admin-batch-completed.png"), full_page=True)
    assert Generation.objects.filter(status=S.COMPLETED, batch__isnull=False).count() == 2

    page.goto(f"{live_server.url}/admin/dashboard/")
    expect(page.locator("#status-counts td[data-status=completed]")).to_have_text("2")
    page.screenshot(path=str(OUTPUT_DIR / "admin-dashboard.png"), full_page=True)
