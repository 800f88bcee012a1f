"""The planner in a real Chromium: pick models, watch the bar and the risk change."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "planner.png"


def test_picking_models_changes_the_bar_and_the_risk(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/planner/")
    page.get_by_label("Context per model").select_option("0")
    page.get_by_label("Plan on memory in use now").uncheck()
    table = page.locator("#plan-table")
    expect(table.locator("tbody tr")).to_have_count(4)  # the guide's recommended set
    expect(table.locator("tbody tr").first).to_contain_text("49%")
    expect(table.locator("tfoot")).to_contain_text("422 GB")
    expect(table.locator("tfoot")).to_contain_text("Low")
    expect(page.locator("#verdict h2")).to_have_text("Fits")
    segments = page.locator("#cluster-bar .seg")
    expect(segments).to_have_count(5)  # four models and the overhead
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#verdict h2")).to_have_text("Pick models to plan")
    page.get_by_role("checkbox", name="DeepSeek V3 8-bit").check()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text("93%")
    expect(table.locator("tfoot")).to_contain_text("High")
    expect(page.locator("#verdict h2")).to_have_text("Does not fit")
    expect(page.locator("#verdict .warning")).to_contain_text("not recommended")
    width = page.locator("#cluster-bar .seg").first.evaluate("s => s.style.width")
    assert float(width.rstrip("%")) > 90

    page.get_by_role("checkbox", name="DeepSeek V3 8-bit").uncheck()
    page.get_by_role("checkbox", name="DeepSeek V3 4-bit").check()
    page.get_by_label("Context per model").select_option("65536")
    expect(table.locator("tfoot")).to_contain_text("Low")
    expect(page.locator("#node-bars [data-node=alpha]")).to_contain_text("% of")
    expect(page.locator("#node-bars [data-node=beta]")).to_contain_text("% of")
