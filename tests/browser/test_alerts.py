"""The bell and the Alerts page in a real Chromium, on the live stack: a rule that holds for
both exo nodes (memory over 0%) fires on beat's evaluation, the bell counts it live, and an
operator silences one alert from the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "alerts.png"


def test_the_bell_counts_firing_alerts_and_an_operator_silences_one(logged_in, live_stack,
                                                                    memory_rule):
    page = logged_in
    page.goto(f"{live_stack.base_url}/alerts/")
    expect(page.locator("#alert-count")).to_have_text("2", timeout=30000)
    expect(page.locator("#alert-bell")).to_have_class("bell firing")
    expect(page.locator("#alerts-firing .alert-row")).to_have_count(2)
    expect(page.locator("#alerts-firing-empty")).to_be_hidden()
    beta = page.locator("#alerts-firing [data-key='memory_warning beta']")
    expect(beta).to_contain_text("BETA's memory is at")
    beta.get_by_role("button", name="Silence").click()
    expect(page.locator("#alerts-silences tbody tr")).to_have_count(1, timeout=10000)
    expect(page.locator("#alerts-silences")).to_contain_text("beta")
    expect(page.locator("#alert-count")).to_have_text("1")
    expect(page.locator("#alerts-firing [data-key='memory_warning beta']")).to_contain_text(
        "silenced")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Lifting it: the bell counts both again.
    page.locator("#alerts-silences").get_by_role("button", name="Lift").click()
    expect(page.locator("#alerts-silences tbody tr")).to_have_count(0, timeout=10000)
    expect(page.locator("#alert-count")).to_have_text("2")


def test_a_viewer_sees_the_bell_and_alerts_but_no_silence_button(logged_in_viewer, live_stack,
                                                                 memory_rule):
    page = logged_in_viewer
    page.goto(f"{live_stack.base_url}/")
    expect(page.locator("#alert-count")).to_have_text("2", timeout=30000)
    page.locator("#alert-bell").click()
    expect(page).to_have_url(f"{live_stack.base_url}/alerts/")
    expect(page.locator("#alerts-firing .alert-row")).to_have_count(2)
    expect(page.get_by_role("button", name="Silence")).to_have_count(0)
