"""Live lists for screen readers, in a real Chromium: the lists that change by themselves are
polite live regions (the log lines are not), and an update changes only what changed, so a
region reads out the change rather than the whole list, and focus stays where it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LIVE_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "live.js"


@pytest.fixture
def blank(page):
    page.set_content('<ul id="box"></ul>')
    page.add_script_tag(path=str(LIVE_JS))
    return page


def test_an_update_keeps_equal_nodes_moves_keyed_ones_and_changes_only_the_rest(blank):
    kept = blank.evaluate("""() => {
      const box = document.getElementById("box");
      const row = (key, text) => Live.el("li", { "data-key": key }, Live.el("span", {}, text));
      Live.patch(box, [row("a", "one"), row("b", "two"), row("c", "three")]);
      const [a, b, c] = box.children;
      const text = b.firstChild.firstChild;
      Live.patch(box, [row("n", "new"), row("a", "one"), row("b", "2"), row("c", "three")]);
      const [n, a2, b2, c2] = box.children;
      return { same: [a === a2, b === b2, c === c2, text === b2.firstChild.firstChild],
               added: n.dataset.key, shown: box.textContent };
    }""")
    assert kept == {"same": [True, True, True, True], "added": "n", "shown": "newone2three"}


def test_an_update_never_keeps_a_button_that_changed_and_leaves_opened_details_open(blank):
    result = blank.evaluate("""() => {
      const box = document.getElementById("box");
      const row = (job, evidence) => Live.el("li", { "data-key": "x" },
        Live.el("button", { "data-job": job }, "Pause"),
        Live.el("details", {}, Live.el("summary", {}, "Evidence"), evidence));
      Live.patch(box, [row("5", "a")]);
      const button = box.querySelector("button");
      box.querySelector("details").open = true;
      Live.patch(box, [row("6", "b")]);
      const [now, details] = [box.querySelector("button"), box.querySelector("details")];
      return { kept: now === button, job: now.dataset.job, open: details.open,
               evidence: details.textContent };
    }""")
    assert result == {"kept": False, "job": "6", "open": True, "evidence": "Evidenceb"}


REGIONS = {"/": ["#job-rows", "#instances"], "/cluster/": ["#instances", "#ops-job-row"],
           "/jobs/": ["#job-list"], "/downloads/": ["#matrix tbody"],
           "/health/": ["#health-checks", "#health-job"], "/linkbench/": ["#linkbench-job"]}


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_live_lists_are_polite_and_log_lines_are_not_read_out(logged_in, live_stack):
    page = logged_in
    for path, regions in REGIONS.items():
        page.goto(f"{live_stack.base_url}{path}")
        for region in regions:
            expect(page.locator(region)).to_have_attribute("aria-live", "polite")
    page.goto(f"{live_stack.base_url}/logs/")
    expect(page.locator("#log-lines")).to_have_attribute("aria-live", "off")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_running_job_keeps_its_row_and_the_focus_on_its_cancel_button(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/jobs/")
    page.get_by_label("Rounds").fill("20")
    page.get_by_label("Interval (s)").fill("0.5")
    page.get_by_role("button", name="Start").click()
    row = page.locator("#job-list .job-row.state-running").first
    expect(row.locator(".job-message")).to_have_text(re.compile(r"Round \d+ of 20"), timeout=15000)
    job_id = row.get_attribute("data-job-id")
    row = page.locator(f"#job-list [data-key='{job_id}']")
    title = row.locator(".job-title").element_handle()
    row.get_by_role("button", name="Cancel").focus()
    # Progress ticks change the numbers, which are not read out, and leave the rest alone.
    expect(row.locator(".job-numbers")).to_have_attribute("aria-live", "off")
    message = row.locator(".job-message")
    for _ in range(2):
        expect(message).not_to_have_text(message.inner_text())
    assert title.evaluate("node => node.isConnected")
    assert page.evaluate("() => document.activeElement.dataset.cancel") == job_id
    page.keyboard.press("Enter")  # the focused button still works
    expect(row.locator(".state")).to_have_text("cancelled", timeout=15000)
