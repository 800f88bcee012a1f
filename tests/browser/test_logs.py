"""The Logs page in a real Chromium: a JACCL line written to a followed file shows up live,
with its class and hint; filters, pause and download work on it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cluster_app.logs import ring as logring
from cluster_app.models import Node
from tests.follower import running_follower, stack_redis

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "logs.png"
COORDINATOR = ("[ 2026-06-22 15:38:54.101 | INFO     | exo.worker.engines.mlx.utils_mlx:"
               "mlx_distributed_init:131 ] rank 0 MLX_JACCL_COORDINATOR: 0.0.0.0:53211")


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_a_jaccl_line_written_to_a_followed_file_appears_on_the_logs_page(
        logged_in, live_stack, tmp_path):
    page = logged_in
    exo_log = tmp_path / "exo.log"
    Node.objects.filter(name="alpha").update(exo_log_files=[str(exo_log)])
    marker = uuid.uuid4().hex
    with running_follower(live_stack, tmp_path / "follow.log", "alpha"):
        page.goto(f"{live_stack.base_url}/logs/")
        expect(page.locator("#logs-live")).to_have_text("live")
        expect(page.locator("#log-followers")).to_contain_text("ALPHA: following")

        append(exo_log, f"{COORDINATOR} {marker}\n"
                        f"RuntimeError: [jaccl] Recv failed with errno=60 {marker}\n")
        mine = page.locator("#log-lines .log-line").filter(has_text=marker)
        failure = mine.filter(has_text="Recv failed")
        expect(failure).to_be_visible(timeout=10000)
        expect(failure).to_have_class(re.compile(r"\bc-jaccl\b.*\bc-error\b"))
        expect(failure.locator(".tag")).to_have_text(["JACCL"])
        expect(failure.get_by_role("note")).to_contain_text("Reboot both Macs")
        expect(page.locator("#log-empty")).to_be_hidden()
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # Class toggles: errors only; then the guide's grep, which is case-sensitive.
        page.get_by_role("button", name="errors", exact=True).click()
        expect(mine).to_have_count(1)
        page.get_by_role("button", name="errors", exact=True).click()
        page.get_by_role("button", name="Guide filter").click()
        expect(mine).to_have_text([re.compile("MLX_JACCL_COORDINATOR")])
        page.get_by_role("button", name="Guide filter").click()
        page.get_by_label("Search").fill(f"recv FAILED with errno=60 {marker}")
        expect(mine).to_have_count(1)
        page.get_by_label("Node").select_option("beta")
        expect(mine).to_have_count(0)
        expect(page.locator("#log-no-match")).to_be_visible()
        page.get_by_label("Node").select_option("")
        page.get_by_label("Search").fill(marker)
        expect(mine).to_have_count(2)

        # Paused, new lines wait and are counted; resumed, they show.
        page.get_by_role("button", name="Pause").click()
        append(exo_log, f"[ring] Receiving from socket 12 failed with errno 54 {marker}\n")
        expect(page.get_by_role("button", name="Resume (1 waiting)")).to_be_visible(timeout=10000)
        expect(mine).to_have_count(2)
        page.get_by_role("button", name="Resume (1 waiting)").click()
        expect(mine).to_have_count(3)
        expect(mine.last.get_by_role("note")).to_contain_text("TCP ring peer went away")

        with page.expect_download() as download:
            page.get_by_role("button", name="Download .log").click()
        text = Path(download.value.path()).read_text()
        assert text.splitlines() == [
            f"ALPHA {COORDINATOR} {marker}",
            f"ALPHA RuntimeError: [jaccl] Recv failed with errno=60 {marker}",
            f"ALPHA [ring] Receiving from socket 12 failed with errno 54 {marker}"]
        assert download.value.suggested_filename.endswith(".log")


def test_with_no_lines_the_page_says_what_is_followed_and_what_to_run(logged_in, live_stack):
    page = logged_in
    client = stack_redis(live_stack)
    if keys := list(client.scan_iter(f"{logring.PREFIX}:*")):
        client.delete(*keys)
    page.goto(f"{live_stack.base_url}/logs/")
    empty = page.locator("#log-empty")
    expect(empty).to_contain_text("No log lines yet.")
    expect(empty).to_contain_text(
        "ALPHA: ~/.exo/exo_log/exo.log, ~/.exo/exo_log/runner_log/stderr.log")
    expect(empty).to_contain_text("python manage.py follow_logs --node <its name>")
    expect(page.locator("#log-followers")).to_contain_text(
        "ALPHA: no follower running (python manage.py follow_logs --node alpha)")
    expect(page.locator("#log-lines .log-line")).to_have_count(0)
