"""In a real browser (Debian's headless Chromium): the Content-Security-Policy blocks nothing the
app itself uses. An admin opens the gallery, a generation page (its video plays from S3
through a presigned URL), compare, images, prompts, collections, the trash, the admin's list,
its generate page (with the searchable pickers and a cost preview) and the dashboard; no page
reports a violation (tests/browser/conftest.py watches every page of every browser test)."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect

from generations import actions, library, services, trash
from generations.models import Generation
from tests.browser.conftest import csp_violations, wait_for_js
from tests.conftest import make_image_bytes, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
S = Generation.Status

PROMPTS = ["A lantern sways in the night wind.", "Snow settles on a quiet harbour."]


def open_page(page, url: str):
    response = page.goto(url)
    page.wait_for_load_state("load")
    assert response is not None and response.ok, f"{url}: {response.status if response else 'no response'}"
    header = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in header and "'unsafe-inline'" not in header, f"{url}: {header!r}"
    page.wait_for_timeout(300)  # violation events are reported asynchronously
    assert csp_violations(page) == [], url
    return response


def test_no_page_breaks_the_content_security_policy(sim, page, live_server, superuser, s3):
    image, _ = services.source_image_ingest(
        file=io.BytesIO(make_image_bytes(640, 360)), filename="lantern.png", title="Lantern"
    )
    plan = actions.plan(
        images=[image], prompt_texts=PROMPTS, params=services.GenerationParams(resolution="480p", duration=2)
    )
    lantern, snow = sorted(actions.request(plan, user=superuser), key=lambda g: PROMPTS.index(g.prompt_text))
    for generation in (lantern, snow):
        wait_for(generation, S.COMPLETED)
    extra = actions.request(
        actions.plan(images=[image], prompt_texts=["A gull glides."], params=services.GenerationParams(duration=2)),
        user=superuser,
    )[0]
    wait_for(extra, S.COMPLETED)
    trash.move_to_trash([extra], user=superuser)
    board = library.collection_create(name="Night scenes", owner=superuser)
    library.collection_add(collection=board, generations=[lantern], user=superuser)
    base = live_server.url

    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Seedance Studio")

    response = open_page(page, f"{base}/")
    assert s3.endpoint_url in response.headers["content-security-policy"]  # media-src: the bucket's origin
    expect(page.locator(f"main a[href='/generations/{lantern.code}/']").first).to_be_visible()

    open_page(page, f"{base}/generations/{lantern.code}/")
    # The video comes from S3 and plays: media-src lets the presigned URL through.
    wait_for_js(page, "document.querySelector('main video').readyState >= 1")
    assert page.evaluate("document.querySelector('main video').error") is None
    assert page.evaluate("document.querySelector('main video').currentSrc").startswith(s3.endpoint_url)
    # The trash button's question is asked by gallery.js now (no onsubmit="").
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("form[data-confirm] button[type=submit]")
    assert Generation.objects.get(pk=lantern.pk).trashed_at is None  # dismissed: not sent

    open_page(page, f"{base}/compare/?ids={lantern.code},{snow.code}")
    page.wait_for_selector("[data-compare-controls][data-ready=true]")
    # compare.css rules (moved out of a <style>) apply: the grid is a grid.
    assert page.evaluate("getComputedStyle(document.querySelector('.compare-grid')).display") == "grid"
    open_page(page, f"{base}/images/")
    open_page(page, f"{base}/images/{image.code}/")
    open_page(page, f"{base}/prompts/")
    open_page(page, f"{base}/collections/")
    open_page(page, f"{base}/collections/{board.code}/")
    open_page(page, f"{base}/trash/")
    expect(page.locator(f"tr[data-code='{extra.code}']")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.trash-actions')).display") == "flex"

    open_page(page, f"{base}/admin/")
    open_page(page, f"{base}/admin/generations/generation/")
    badge = page.locator(f"span.gen-badge[data-generation-id='{lantern.pk}']")
    # The badge's colour comes from admin.css, not a style="".
    assert badge.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(22, 163, 74)"
    open_page(page, f"{base}/admin/generations/sourceimage/")
    open_page(page, f"{base}/admin/generations/generation/generate/?images={image.pk}")
    expect(page.locator(".select2-container").first).to_be_visible()  # the searchable pickers
    assert page.locator(".select2-container").first.evaluate("c => c.getBoundingClientRect().width") > 300
    page.fill("textarea[name=typed_prompts]", "The lantern flickers.")
    page.select_option("select[name=resolution]", "480p")
    page.select_option("select[name=duration]", "2")
    page.click("input[name=_preview]")
    expect(page.locator("input[name=_generate]")).to_have_value("Generate 1 video ($0.02)")
    page.wait_for_timeout(300)
    assert csp_violations(page) == [], "the generate page's preview"
    open_page(page, f"{base}/admin/dashboard/")
    expect(page.locator("#status-counts td[data-status=completed]")).to_have_text("3")
    assert page.evaluate("getComputedStyle(document.querySelector('.ops-grid')).display") == "grid"

    # The watch itself works: an inline style set now is blocked and reported.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(300)
    assert any("style-src" in violation for violation in csp_violations(page)), csp_violations(page)
    csp_violations(page).clear()
