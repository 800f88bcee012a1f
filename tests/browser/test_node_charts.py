"""A node's page in a real Chromium: uPlot charts of its memory, GPU and network, their legends
showing the values under the pointer, the live network rates, and the hour and day spans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from cluster_app.models import Node
from tests.chat_stream import long_answers, loopback_during_a_stream
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "node.png"
CHARTS = {"memory": "memory in use", "gpu": "GPU use", "network": "lo in"}


def hover_right_edge(chart: Locator) -> None:
    """The pointer over the newest readings (scrolled into view first)."""
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    over.hover(position={"x": box["width"] - 2, "y": box["height"] / 2})


def test_the_node_page_charts_memory_gpu_and_network_with_uplot(logged_in, live_stack):
    Node.objects.filter(name="alpha").update(network_interfaces=["lo"])
    page = logged_in
    page.goto(f"{live_stack.base_url}/nodes/alpha/")
    for box, first_series in CHARTS.items():
        chart = page.locator(f"#perf-{box} .uplot")
        # Charts fill in as the polls and the worker's readings come (every 10 s here).
        expect(chart.locator("canvas")).to_have_count(1, timeout=30000)
        expect(chart.locator(".u-legend .u-series", has_text=first_series)).not_to_have_count(0)
    expect(page.locator("#perf-network-now [data-interface=lo]")).to_contain_text(
        re.compile(r"in [\d.]+ (B|KiB|MiB)/s · out"))
    expect(page.locator("#perf-pressure-level")).to_have_text(
        re.compile("^(normal|warning|critical)$"))

    # The legend is the tooltip: over the chart it shows the values under the pointer.
    memory = page.locator("#perf-memory .uplot")
    hover_right_edge(memory)
    expect(memory.locator(".u-legend .u-series", has_text="memory in use").locator(".u-value")
           ).to_have_text(
        re.compile(r"^[\d.]+ %$"))
    network = page.locator("#perf-network .uplot")
    hover_right_edge(network)
    expect(network.locator(".u-legend .u-series", has_text="lo in").locator(".u-value")
           ).to_have_text(
        re.compile(r"^[\d.]+ (B|KiB|MiB)/s$"))
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Last day").click()
    expect(page.get_by_role("button", name="Last day")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#perf-memory .uplot canvas")).to_have_count(1)
    expect(page.locator("#perf-error")).to_be_hidden()


def test_the_node_page_shows_loopback_throughput_rising_during_a_chat_stream(
        logged_in, live_stack, exo_url, alice_token, loaded_llama):
    Node.objects.filter(name="alpha").update(network_interfaces=["lo"])
    page = logged_in
    page.goto(f"{live_stack.base_url}/nodes/alpha/")
    rate = page.locator("#perf-network-now [data-interface=lo]")
    expect(rate).to_have_count(1, timeout=30000)

    shown_at = None

    def next_reading() -> int:
        """The next reading the page shows live."""
        nonlocal shown_at
        shown_at, rx = wait_until(lambda: (shown := rate.evaluate(
            "e => [e.dataset.at, Number(e.dataset.rx)]"))[0] != shown_at and shown, timeout=30)
        return int(rx)

    with long_answers(exo_url):
        loopback_during_a_stream(next_reading, live_stack.base_url, alice_token)
