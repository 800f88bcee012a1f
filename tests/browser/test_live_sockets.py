"""The pages' sockets in a real Chromium: a logout in one tab logs the others out, and a user
with too many sockets open is told so instead of reconnecting in a loop."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from cluster_app.models import ApiToken
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_logging_out_in_one_tab_takes_the_other_tabs_to_the_login_page(logged_in, live_stack):
    first = logged_in
    expect(first.locator("#jobs-live")).to_have_text("live")
    second = first.context.new_page()
    second.goto(f"{live_stack.base_url}/jobs/")
    expect(second.locator("#jobs-live")).to_have_text("live")
    second.get_by_role("button", name="Log out").click()
    # The first tab's sockets close as logged out; it reloads, and the panel asks for a login.
    expect(first).to_have_url(re.compile(r"/login/"), timeout=15000)


def opened(sockets: ExitStack, url: str, token: str) -> bool:
    """Whether a new socket got its snapshot (it stays open with `sockets`), or was refused."""
    ws = sockets.enter_context(connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                       open_timeout=10))
    try:
        ws.recv(timeout=10)
    except ConnectionClosed:
        return False
    return True


def test_too_many_sockets_are_shown_and_retried_later(logged_in, live_stack, alice, settings):
    page = logged_in
    page.goto("about:blank")  # its sockets close
    token = ApiToken.issue(user=alice, name="many")[1]
    with ExitStack() as scripts:
        # Scripts take every socket this user may have (once the page's are given back).
        for _ in range(settings.WS_MAX_SOCKETS_PER_USER):
            wait_until(lambda: opened(scripts, f"{live_stack.ws_url}/ws/jobs/", token))
        page.goto(f"{live_stack.base_url}/")
        expect(page.locator("#jobs-live")).to_have_text("too many open pages")
    # The scripts are gone: after its back-off the page is live again by itself.
    expect(page.locator("#jobs-live")).to_have_text("live", timeout=40000)
