"""The Content-Security-Policy header (django-csp, seedance_studio/content_security.py): on every
response, scripts and styles only from this site's files, and no page or template carrying
inline code that the policy would block. tests/browser/test_content_security_policy.py checks
the same pages in a real browser (no violation reported)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tests.security.test_access import no_workers, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_of(response, where: str) -> dict[str, str]:
    assert "Content-Security-Policy" in response, f"{where}: no Content-Security-Policy"
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value.strip()
    return directives


def assert_strict(response, where: str) -> dict[str, str]:
    policy = policy_of(response, where)
    header = response["Content-Security-Policy"]
    for weak in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "nonce-", "data:", "*"):
        assert weak not in header, f"{where}: {weak} in {header!r}"
    assert policy == EXPECTED, where
    return policy


def test_every_kind_of_response_carries_the_policy(settings, viewer, world):  # noqa: F811
    settings.DEBUG = False
    anonymous = Client()
    for url in ["/login/", "/admin/login/", "/healthz", "/no-such-page/"]:
        assert_strict(anonymous.get(url), f"anonymous {url}")
    assert_strict(anonymous.post("/webhooks/fal", data=b"{}", content_type="application/json"), "the webhook's 401")
    client = Client()
    client.force_login(viewer)
    completed = world["completed"]
    pages = [
        "/",
        f"/generations/{completed.code}/",
        f"/generations/status.json?ids={completed.code}",  # JSON
        f"/media/{completed.video.name}",
        f"/compare/?ids={completed.code},{world['failed'].code}",
        "/images/",
        "/prompts/",
        "/collections/",
        "/export.json",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response, url)


def test_the_admin_and_its_json_carry_it_too(settings, superuser, world):  # noqa: F811
    settings.DEBUG = False
    client = Client()
    client.force_login(superuser)
    for url in [
        reverse("admin:index"),
        reverse("admin:generations_generation_changelist"),
        reverse("admin:generations_generation_status") + f"?id={world['running'].pk}",
        reverse("admin:generations_generation_generate"),
        reverse("dashboard"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response, url)


def test_script_src_never_allows_inline_code():
    directives = django_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert "'unsafe-inline'" not in str(directives) and "'unsafe-eval'" not in str(directives)


# --- Media on S3: the presigned URLs' origin, and only in img-src and media-src ------------


@pytest.mark.parametrize(
    ("options", "origin"),
    [
        # A MinIO/SeaweedFS-style endpoint, path-style (the tests' own S3).
        ({"endpoint_url": "http://127.0.0.1:8333", "addressing_style": "path"}, "http://127.0.0.1:8333"),
        # AWS itself: boto3 puts the bucket in the host name.
        ({"region_name": "eu-west-1"}, "https://team-videos.s3.amazonaws.com"),
        ({"region_name": "eu-west-1", "addressing_style": "path"}, "https://s3.eu-west-1.amazonaws.com"),
        (
            {"endpoint_url": "https://s3.example.com", "addressing_style": "virtual"},
            "https://team-videos.s3.example.com",
        ),
    ],
)
def test_on_s3_media_may_come_from_the_bucket_s_origin(settings, viewer, world, options, origin):  # noqa: F811
    settings.DEBUG = False
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "generations.storage.S3FileStorage",
            "OPTIONS": {
                "bucket_name": "team-videos",
                "access_key": "AKIAEXAMPLE",
                "secret_key": "not-a-real-secret",
                "querystring_auth": True,
                "signature_version": "s3v4",
                **options,
            },
        },
    }
    client = Client()
    client.force_login(viewer)
    completed = world["completed"]
    response = client.get(f"/generations/{completed.code}/")
    policy = policy_of(response, "the detail page on S3")
    assert policy["img-src"] == policy["media-src"] == f"'self' {origin}"
    assert {name: value for name, value in policy.items() if name not in ("img-src", "media-src")} == {
        name: value for name, value in EXPECTED.items() if name not in ("img-src", "media-src")
    }
    # The page's video really is at that origin (a presigned URL made by the same storage).
    video_url = re.search(r'<video[^>]* src="([^"]+)"', response.content.decode())[1]
    assert video_url.startswith(origin + "/") and "Signature" in video_url


def test_locally_media_is_this_site_only(settings, viewer, world):  # noqa: F811
    assert settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")
    client = Client()
    client.force_login(viewer)
    policy = policy_of(client.get("/"), "the gallery")
    assert policy["img-src"] == policy["media-src"] == "'self'"


# --- No inline code in what the app renders -------------------------------------------------


class InlineCode(HTMLParser):
    """Collects what a script-src/style-src 'self' policy blocks: <style> elements, style=""
    and on*="" attributes, javascript: URLs, and <script> elements with code in them (a
    type="application/json" data block is not run and is allowed)."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            self._script = attrs

    def handle_data(self, data):
        script = self._script
        if script is not None and data.strip() and "src" not in script and script.get("type") != "application/json":
            self.found.append(f"<script> {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_the_parser_finds_what_the_policy_would_block():
    assert inline_code('<p style="color:red">x</p><style>p{}</style>') == ["<p style='color:red'>", "<style>"]
    assert inline_code("<form onsubmit=\"return confirm('x')\"></form>") == ["<form onsubmit=\"return confirm('x')\">"]
    assert inline_code("<script>alert(1)</script>") == ["<script> 'alert(1)'"]
    assert inline_code('<a href="javascript:go()">x</a>') == ["<a href='javascript:go()'>"]
    allowed = '<script src="/static/x.js" defer></script><script id="d" type="application/json">{"a": 1}</script>'
    assert inline_code(allowed) == []


def test_no_gallery_page_carries_inline_code(generator, world):  # noqa: F811
    client = Client()
    client.force_login(generator)
    completed, trashed = world["completed"], world["trashed"]
    urls = [
        "/",
        "/?status=completed&q=hills",
        f"/generations/{completed.code}/",
        f"/generations/{world['failed'].code}/",
        f"/compare/?ids={completed.code},{world['failed'].code}",
        f"/compare/variations/{completed.code}/",
        "/compare/?ids=nonsense",
        "/images/",
        f"/images/{world['image'].code}/",
        "/prompts/",
        f"/prompts/{world['prompt'].code}/",
        "/collections/",
        f"/collections/{world['collection'].code}/",
        "/tags/",
        "/trash/",
        f"/generations/{trashed.code}/",
        "/no-such-page/",
    ]
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code in (200, 400, 404), url
        assert inline_code(response.content.decode()) == [], url
    assert inline_code(Client().get("/login/").content.decode()) == [], "/login/"


def test_no_admin_page_carries_inline_code(superuser, world):  # noqa: F811
    client = Client()
    client.force_login(superuser)
    urls = [
        reverse("admin:index"),
        reverse("admin:password_change"),
        reverse("dashboard"),
        reverse("admin:generations_generation_generate") + f"?images={world['image'].pk}",
    ]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        urls.append(reverse("admin:{}_{}_changelist".format(*info)) + "?q=a")
        if model_admin.has_add_permission(_request_for(superuser)):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model._default_manager.first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    for url in urls:
        response = client.get(url, follow=True)  # the budget's list opens its one row
        assert response.status_code == 200, url
        assert inline_code(response.content.decode()) == [], url
    # The generate page's preview and the retry confirmation.
    preview = client.post(
        reverse("admin:generations_generation_generate"),
        {
            "images": [world["image"].pk],
            "typed_prompts": "The light drifts slowly.",
            "resolution": "480p",
            "aspect_ratio": "16:9",
            "duration": "2",
            "variations": "2",
            "_preview": "Preview",
        },
    )
    assert preview.status_code == 200 and "Preview:" in preview.content.decode()
    assert inline_code(preview.content.decode()) == []


def test_a_change_list_without_actions_has_no_inline_style(superuser, world, monkeypatch):  # noqa: F811
    # Django's own change list prints a <style> when a ModelAdmin turns actions off;
    # templates/admin/change_list.html moves that rule to admin.css.
    from generations.models import AuditEvent

    model_admin = admin.site._registry[AuditEvent]
    monkeypatch.setattr(model_admin, "actions_on_top", False)
    monkeypatch.setattr(model_admin, "actions_on_bottom", False)
    client = Client()
    client.force_login(superuser)
    page = client.get(reverse("admin:generations_auditevent_changelist")).content.decode()
    assert inline_code(page) == []
    assert "gen-no-actions" in page and "admin/css/changelists.css" in page and "generations/admin.css" in page


TEMPLATES_DIR = Path(django_settings.BASE_DIR) / "templates"
INLINE_IN_A_TEMPLATE = re.compile(
    r"<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:|<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>",
    re.IGNORECASE,
)
TEMPLATE_COMMENT = re.compile(r"{% comment %}.*?{% endcomment %}|{#.*?#}", re.DOTALL)


def test_no_template_has_inline_code():
    """Every template, including ones no test renders: behaviour and looks live in static files."""
    found = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        text = TEMPLATE_COMMENT.sub(lambda comment: "\n" * comment[0].count("\n"), path.read_text())
        for number, line in enumerate(text.splitlines(), start=1):
            if INLINE_IN_A_TEMPLATE.search(line):
                found.append(f"{path.relative_to(TEMPLATES_DIR)}:{number}: {line.strip()[:100]}")
    assert found == []


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_media_origin_tolerates_a_storage_that_cannot_make_urls(settings, monkeypatch, caplog):
    from seedance_studio import content_security

    def broken(name):
        raise RuntimeError("no credentials")

    from django.core.files.storage import storages

    monkeypatch.setattr(storages["default"], "url", broken)
    content_security._origin_of.cache_clear()
    assert content_security.media_origin() is None
    assert "could not make a media URL" in caplog.text
    content_security._origin_of.cache_clear()
