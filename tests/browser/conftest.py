"""Debian's headless Chromium (/usr/bin/chromium) driven by Playwright; never a downloaded browser.

Every page a browser test opens is watched for Content-Security-Policy violations (the
`securitypolicyviolation` event, and Chromium's "Refused to ..." console errors): a test that
saw one fails, naming what was blocked and where."""

from __future__ import annotations

import os

import pytest

from tests.conftest import wait_until

# Runs in every document before its own scripts (Playwright injects it over the DevTools
# protocol, which the page's policy does not govern) and reports each violation to Python.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
    window.reportCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || "inline code"}`
        + ` (${event.sourceFile || "the page"}:${event.lineNumber}) on ${location.pathname}${location.search}`
    );
});
"""


def csp_violations(page) -> list[str]:
    """What the policy blocked on this page object so far (events and console errors)."""
    return page.csp_violations


def wait_for_js(page, expression: str, *, timeout: float = 20) -> None:
    """Wait until `expression` is true in the page. Not page.wait_for_function: Playwright polls
    with the page's eval(), which the policy refuses (no 'unsafe-eval'); page.evaluate is sent
    over the DevTools protocol instead."""
    wait_until(lambda: page.evaluate(expression), timeout=timeout, interval=0.05, what=expression)


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes around it are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        violations: list[str] = []
        page.csp_violations = violations
        page.expose_function("reportCspViolation", lambda text: violations.append(text))
        page.add_init_script(REPORT_CSP_VIOLATIONS)
        page.on(
            "console",
            lambda message: (
                violations.append(f"console: {message.text}")
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    assert violations == [], "the Content-Security-Policy blocked something on a page this test opened"
