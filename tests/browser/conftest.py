from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from cluster_app.models import AlertRule
from simulators.exo.catalogue import GUIDE_SPEEDS

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not path:
        pytest.fail("Chromium not found: `make test` installs it, or set CHROMIUM_PATH.")
    return path


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to
    # run next to it. Tests create their data before the page is opened. The loop stops with
    # the browser tests, so the tests after them can use async_to_sync in this thread.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Through the login form, as a person does (test_dashboard.py's own tests)."""
    page.goto(f"{base_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def signed_in(page: Page, base_url: str, user: Any) -> Page:
    """`user` signed in without the form, then on the dashboard: a session made as the login
    view makes one (Django's test client), its cookie handed to the browser. The form is a
    page load and a post every browser test would pay for."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": base_url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
    page.goto(f"{base_url}/")
    return page


@pytest.fixture
def logged_in(page: Page, live_stack: Any, nodes: Any, guide_models: None, operator: Any) -> Page:
    """Alice, logged in as an operator: the pages' buttons are hers to use."""
    return signed_in(page, live_stack.base_url, operator)


@pytest.fixture
def logged_in_viewer(page: Page, live_stack: Any, nodes: Any, guide_models: None,
                     bob: Any) -> Page:
    """Bob, in no group: a viewer."""
    return signed_in(page, live_stack.base_url, bob)


@pytest.fixture
def logged_in_operator(page: Page, live_stack: Any, nodes: Any, guide_models: None,
                       operator: Any) -> Page:
    """Alice, logged in as an operator (she may start and stop exo)."""
    return signed_in(page, live_stack.base_url, operator)


@pytest.fixture
def memory_rule() -> AlertRule:
    # The only rule the stack evaluates (the seed is there until a transactional test flushes).
    AlertRule.objects.exclude(key="memory_warning").delete()
    rule, _ = AlertRule.objects.update_or_create(key="memory_warning", defaults={
        "name": "Memory over the safe zone", "severity": "warning", "threshold": 0.0,
        "for_seconds": 0, "enabled": True})
    return rule


@pytest.fixture
def speeds(exo_url: str) -> Iterator[Callable[[str, float], None]]:
    """Set a model's speed on the simulator (times its --speed of 20), so a stream lasts long
    enough to watch; the simulator's own speeds come back afterwards."""
    changed: list[str] = []

    def set_speed(model_id: str, tokens_per_second: float) -> None:
        changed.append(model_id)
        httpx.post(f"{exo_url}/_sim/settings", json={"model_speeds": {
            model_id: tokens_per_second}}).raise_for_status()

    yield set_speed
    httpx.post(f"{exo_url}/_sim/settings", json={"model_speeds": {
        m: GUIDE_SPEEDS[m][0] for m in changed}}).raise_for_status()
