"""The pages' sockets in a real Chromium: one jobs socket per page, shared by its scripts and
brought up to date by each reconnect, a web server's restart among them; a logout in one tab
logs the others out, and a user with too many sockets open is told so instead of reconnecting
in a loop."""

from __future__ import annotations

import re
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import WebSocketRoute, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arthur_panel.launcher import free_port, wait_for_port
from arthur_panel.navigation import NAV
from cluster_app.jobs.consumers import SNAPSHOT_JOBS
from cluster_app.models import ApiToken, Job, Node
from tests.stack import start, stop, wait_until, web_command

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def finished_ping(node: Node) -> Job:
    """A job written straight to the database: no event tells a page about it."""
    return Job.objects.create(kind="ping", node=node, state=Job.State.SUCCEEDED, progress=1.0,
                              message="done", finished_at=timezone.now())


def test_every_page_opens_one_jobs_socket_for_all_its_scripts(logged_in, live_stack, nodes):
    page = logged_in
    # A job older than the socket's snapshot: its page fetches it, then follows the same socket.
    old = finished_ping(nodes["alpha"])
    for _ in range(SNAPSHOT_JOBS):
        finished_ping(nodes["beta"])
    job_page = reverse("job", kwargs={"job_id": old.pk})
    # The staff-only pages (Audit) answer this ordinary user with a 403 page.
    paths = [*(reverse(item.route) for item in NAV if not item.staff_only), job_page,
             reverse("model", kwargs={"slug": "llama-3.2-1b"}), reverse("model-add")]
    page.goto("about:blank")  # the sockets of the page logged in on are gone
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(urlsplit(ws.url).path))
    for path in paths:
        opened.clear()
        page.goto(f"{live_stack.base_url}{path}")
        expect(page.locator("#jobs-live")).to_have_text("live")
        if path == job_page:
            expect(page.locator("#job-row .state")).to_have_text("succeeded")
        assert [p for p in opened if p.startswith("/ws/jobs/")] == ["/ws/jobs/"], path

    # Following a job started by a click uses the page's socket too.
    page.goto(f"{live_stack.base_url}/health/")
    expect(page.locator("#jobs-live")).to_have_text("live")
    opened.clear()
    page.get_by_role("button", name="Run checks now").click()
    expect(page.locator("#health-job .state")).to_have_text("succeeded", timeout=30000)
    assert [p for p in opened if p.startswith("/ws/")] == []


def test_a_reconnect_brings_every_script_on_the_page_the_current_jobs(logged_in, live_stack,
                                                                      nodes):
    page = logged_in
    routes: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:  # each jobs socket the page opens, passed on
        route.connect_to_server()
        routes.append(route)

    page.route_web_socket(re.compile(r"/ws/jobs/(\?feeds=1)?$"), through)  # pages ask for feeds
    page.goto(f"{live_stack.base_url}/jobs/")
    expect(page.locator("#jobs-live")).to_have_text("live")
    missed = finished_ping(nodes["alpha"])
    rows = [page.locator(f"{box} [data-job-id='{missed.pk}']")
            for box in ("#job-rows", "#job-list")]  # the jobs panel's and the Jobs page's
    for row in rows:
        expect(row).to_have_count(0)
    # The panel drops a client too slow to read (4008): the page reconnects at once.
    routes[-1].close(code=4008, reason="too slow")
    for row in rows:
        expect(row).to_contain_text("succeeded")
    expect(page.locator("#jobs-live")).to_have_text("live")
    assert len(routes) == 2


def test_a_page_left_open_across_a_web_restart_comes_back_with_what_changed(
        logged_in, live_stack, nodes, tmp_path):
    """A web process of its own beside the stack's (the same database, Redis and workers),
    killed and started again as `make run` does with one that dies."""
    port = free_port()
    env, base = {**live_stack.env, "HOST": "127.0.0.1", "PORT": str(port)}, f"http://127.0.0.1:{port}"
    web = start(web_command(), env, tmp_path / "web-1.log")
    try:
        wait_for_port(port, timeout=30)
        page = logged_in  # the session cookie is the host's, whatever the port
        page.goto(f"{base}/jobs/")
        expect(page.locator("#jobs-live")).to_have_text("live")
        web.kill()
        web.wait()
        expect(page.locator("#jobs-live")).to_have_text("reconnecting…")
        missed = finished_ping(nodes["alpha"])
        web = start(web_command(), env, tmp_path / "web-2.log")
        for box in ("#job-rows", "#job-list"):  # the jobs panel's and the Jobs page's
            expect(page.locator(f"{box} [data-job-id='{missed.pk}']")).to_contain_text(
                "succeeded", timeout=30000)
        expect(page.locator("#jobs-live")).to_have_text("live")
    finally:
        stop(web)


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
        page.clock.install()  # the back-off's 15 s pass at once below
        page.goto(f"{live_stack.base_url}/")
        expect(page.locator("#jobs-live")).to_have_text("too many open pages")
    # The scripts are gone: after its back-off the page is live again by itself.
    page.wait_for_timeout(300)
    expect(page.locator("#jobs-live")).to_have_text("too many open pages")  # not before
    page.clock.fast_forward(16_000)
    expect(page.locator("#jobs-live")).to_have_text("live", timeout=10000)
