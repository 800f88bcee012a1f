"""The Link benchmark page in a real Chromium: run the probe, watch the job, see the charts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cluster_app.linkbench.rank import QUICK_SIZES

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "linkbench.png"


def test_a_run_from_the_page_ends_in_two_charts_against_the_guide(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/linkbench/")
    expect(page.get_by_text("No link benchmark has run yet")).to_be_visible()
    expect(page.locator("#linkbench-history-empty")).to_be_visible()

    page.get_by_label("quick (up to 1 MiB)").check()
    page.get_by_role("button", name="Run benchmark").click()
    row = page.locator("#linkbench-job .job-row")
    expect(row).to_contain_text("linkbench.run #")
    expect(row.locator(".state")).to_have_text("succeeded", timeout=60000)

    charts = page.locator("#linkbench-plots figure.chart")
    expect(charts).to_have_count(2)
    for index in range(2):
        chart = charts.nth(index)
        expect(chart).to_have_attribute("data-points", str(len(QUICK_SIZES)))
        expect(chart.locator(".uplot canvas")).to_have_count(1)
        legend = chart.locator(".u-legend .u-series")
        for series in ("measured (", "guide: RDMA", "guide: TCP"):
            expect(legend.filter(has_text=series)).to_have_count(1)
    # The legend is the tooltip: over the latency chart it shows the time measured there.
    over = charts.first.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    over.hover(position={"x": 2, "y": box["height"] / 2})
    expect(charts.first.locator(".u-legend .u-series", has_text="measured (").locator(".u-value")
           ).to_have_text(re.compile(r"^[\d.]+ (µs|ms)$"))
    expect(page.locator("figure").first).to_contain_text("guide: RDMA (Thunderbolt 5)")
    expect(page.locator("#linkbench-latency")).to_have_text(re.compile(r"^[\d.]+ (µs|ms)$"))
    expect(page.locator("#linkbench-summary")).to_contain_text("guide, TCP: about 700 µs")
    expect(page.locator("#linkbench-history tbody tr")).to_have_count(1)
    expect(page.get_by_text("No link benchmark has run yet")).to_be_hidden()
    expect(page.locator("#linkbench-error")).to_be_hidden()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
