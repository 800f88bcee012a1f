"""The Benchmarks page in a real Chromium: an empty page says so; a benchmark started from the
form ends in a table per placement with the guide's verdicts, and the plots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

VERDICT = re.compile(r"^(meets|near|misses) the guide$")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.png"


def test_a_benchmark_from_the_page_ends_in_a_table_and_plots(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/benchmarks/")
    expect(page.get_by_text("No model benchmark has run yet")).to_be_visible()
    expect(page.locator("#bench-history-empty")).to_be_visible()

    page.locator("#bench-model").select_option("llama-3.2-1b")
    page.get_by_label("Prompt tokens").fill("512")
    page.get_by_label("Answer tokens").fill("16")
    page.get_by_label("Runs").fill("1")
    page.get_by_role("button", name="Run benchmark").click()
    row = page.locator("#bench-job .job-row")
    expect(row).to_contain_text("model.bench #")
    expect(row.locator(".state")).to_have_text("succeeded", timeout=120000)

    rows = page.locator("#bench-placements tbody tr")
    expect(rows.first).to_contain_text("one node")
    assert rows.count() >= 3
    for index in range(rows.count()):
        expect(rows.nth(index).locator(".badge")).to_have_text(VERDICT)
    expect(page.locator("#bench-verdict")).to_contain_text("the guide says 5,000 tok/s")
    charts = page.locator("#bench-plots figure.chart")
    expect(charts).to_have_count(3)
    expect(charts.first.locator(".uplot canvas")).to_have_count(1)
    legend = charts.first.locator(".u-legend .u-series")
    expect(legend.filter(has_text="guide: 5,000 tok/s")).to_have_count(1)
    expect(page.locator("#bench-guide")).to_contain_text("RDMA over TCP")
    expect(page.locator("#bench-history tbody tr")).to_have_count(1)
    csv_link = re.compile(r"^/api/v1/benchmarks/\d+/csv/$")
    expect(page.locator("#bench-csv")).to_have_attribute("href", csv_link)
    expect(page.locator("#bench-error")).to_be_hidden()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
