"""In a real browser (Debian's headless Chromium): a generator logs in to the team's gallery,
narrows it with the filter bar, plays a real video (archived by the pipeline to S3, served
by presigned URLs), and plays two videos in sync on the compare page. Screenshots go to
test-output/ (a CI artifact)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group

from generations import actions, services
from generations.models import Generation
from generations.roles import ensure_groups
from tests.browser.conftest import wait_for_js
from tests.conftest import OUTPUT_DIR, make_image_bytes, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
S = Generation.Status

PROMPTS = ["A red kite drifts over the dunes.", "Waves roll slowly onto the harbour wall."]


@pytest.fixture
def gina(django_user_model):
    ensure_groups()
    user = django_user_model.objects.create_user("gina", "gina@example.com", "gina-password")
    user.groups.add(Group.objects.get(name="generator"))
    return user


def card(page, generation):
    return page.locator(f"main a[href='/generations/{generation.code}/']").first


def test_a_generator_filters_the_gallery_plays_a_video_and_compares_two_in_sync(sim, page, live_server, gina):
    from playwright.sync_api import expect

    image, _ = services.source_image_ingest(
        file=io.BytesIO(make_image_bytes(640, 360)), filename="dunes.png", title="Dunes"
    )
    plan = actions.plan(
        images=[image], prompt_texts=PROMPTS, params=services.GenerationParams(resolution="480p", duration=2)
    )
    kite, waves = sorted(actions.request(plan, user=gina), key=lambda g: PROMPTS.index(g.prompt_text))
    for generation in (kite, waves):
        wait_for(generation, S.COMPLETED)
    assert kite.video.url.startswith("http") and "Signature" in kite.video.url  # presigned S3
    OUTPUT_DIR.mkdir(exist_ok=True)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "gina")
    page.fill("#id_password", "gina-password")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # The gallery shows both; searching the prompts narrows it to one.
    expect(card(page, kite)).to_be_visible()
    expect(card(page, waves)).to_be_visible()
    page.fill("form[role=search] input[name=q]", "kite")
    page.locator("form[role=search] button[type=submit]").click()
    page.wait_for_url("**/?*q=kite*")
    expect(card(page, kite)).to_be_visible()
    expect(card(page, waves)).to_have_count(0)
    page.screenshot(path=str(OUTPUT_DIR / "gallery.png"), full_page=True)

    # The detail page plays the archived video from S3.
    card(page, kite).click()
    page.wait_for_url(f"**/generations/{kite.code}/")
    wait_for_js(page, "document.querySelector('main video').readyState >= 1")
    duration = page.evaluate("document.querySelector('main video').duration")
    assert duration == pytest.approx(2.0, abs=0.25)
    page.evaluate("() => { const v = document.querySelector('main video'); v.muted = true; return v.play(); }")
    wait_for_js(page, "document.querySelector('main video').currentTime > 0.4")
    assert page.evaluate("document.querySelector('main video').error") is None
    # Seeking needs HTTP Range requests from the server holding the file.
    page.evaluate("() => { const v = document.querySelector('main video'); v.pause(); v.currentTime = 1.5; }")
    wait_for_js(page, "!document.querySelector('main video').seeking")
    assert page.evaluate("document.querySelector('main video').currentTime") == pytest.approx(1.5, abs=0.1)
    page.screenshot(path=str(OUTPUT_DIR / "detail.png"), full_page=True)

    # The compare page: one play button starts both, and they stay together.
    page.goto(f"{live_server.url}/compare/?ids={kite.code},{waves.code}")
    expect(page.locator("video[data-compare-video]")).to_have_count(2)
    page.wait_for_selector("[data-compare-controls][data-ready=true]")
    times = "Array.from(document.querySelectorAll('video[data-compare-video]'), v => v.currentTime)"
    assert page.evaluate(times) == [0, 0]
    page.click("[data-compare-play]")
    wait_for_js(page, f"{times}.every(t => t > 0.3)")
    first = page.evaluate(times)
    page.wait_for_timeout(300)
    second = page.evaluate(times)
    for t in (first, second):
        assert abs(t[0] - t[1]) < 0.3, t
    assert second[0] > first[0] or second[0] >= 1.9, (first, second)  # still advancing (or at the end)
    page.screenshot(path=str(OUTPUT_DIR / "compare.png"), full_page=True)

    # The space bar pauses all of them; the scrubber moves both.
    page.keyboard.press("Space")
    wait_for_js(page, "Array.from(document.querySelectorAll('video[data-compare-video]')).every(v => v.paused)")
    page.locator("[data-compare-scrub]").fill("1")
    wait_for_js(
        page,
        "Array.from(document.querySelectorAll('video[data-compare-video]'))"
        ".every(v => !v.seeking && Math.abs(v.currentTime - 1) < 0.05)",
    )

    # Marking the pick.
    page.locator(f"[data-code='{waves.code}'] button[name=pick]").click()
    expect(page.locator(f"[data-code='{waves.code}'] [data-pick-badge]")).to_be_visible()
    assert list(Generation.objects.filter(is_pick=True)) == [waves]
