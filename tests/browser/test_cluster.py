"""The cluster in a real Chromium: load a model and watch it become ready; exo going away."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "cluster.png"


def test_load_a_model_and_watch_it_become_ready(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/cluster/")
    alpha = page.locator("#node-table tbody tr").first  # ALPHA, the largest node
    expect(alpha).to_contain_text("ALPHA")
    expect(alpha).to_contain_text("RDMA → BETA (rdma_en3 ↔ rdma_en4)")
    page.get_by_label("Model").select_option(LLAMA_1B)
    page.get_by_role("button", name="Show placements").click()
    rows = page.locator("#previews tbody tr")
    expect(rows.first).to_be_visible()
    pipeline = rows.filter(has_text="Pipeline").filter(has_text="MlxRing").filter(
        has=page.get_by_role("button", name="Load")).first
    pipeline.get_by_role("button", name="Load").click()

    instance = page.locator("#instances .instance").filter(has_text=LLAMA_1B)
    expect(instance.locator(".badge")).to_contain_text("loading", timeout=15000)
    expect(instance.locator(".badge")).to_have_text("ready", timeout=20000)
    panel = page.get_by_role("complementary", name="Jobs")
    expect(panel.locator(".job-row").first).to_contain_text("instance.load")
    expect(panel.locator(".job-row .state").first).to_have_text("succeeded", timeout=15000)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.on("dialog", lambda dialog: dialog.accept())
    instance.get_by_role("button", name="Unload").click()
    expect(instance).to_have_count(0, timeout=20000)
    expect(page.locator("#instances")).to_contain_text("No model loaded")


def test_with_rdma_off_jaccl_placements_show_exos_reason_and_the_dashboard_warns(
        logged_in, live_stack, exo_url):
    page = logged_in
    httpx.post(f"{exo_url}/_sim/nodes/BETA/rdma", json={"enabled": False})
    try:
        expect(page.locator("#topology .warning")).to_contain_text("RDMA is off", timeout=10000)
        expect(page.locator("article[data-node=beta] .reason")).to_contain_text("rdma_ctl enable")
        page.goto(f"{live_stack.base_url}/cluster/")
        page.get_by_label("Model").select_option("mlx-community/DeepSeek-V3.1-4bit")
        page.get_by_role("button", name="Show placements").click()
        refused = page.locator("#previews tr.unplaceable").filter(has_text="MlxJaccl").first
        expect(refused).to_contain_text("RDMA")
        expect(refused.get_by_role("button", name="Load")).to_have_count(0)
    finally:
        httpx.post(f"{exo_url}/_sim/nodes/BETA/rdma", json={"enabled": True})


def test_banner_when_exo_is_unreachable(logged_in, live_stack, exo_url):
    page = logged_in
    expect(page.locator("article[data-node=alpha] .badge")).to_have_text("online")
    banner = page.get_by_role("alert").filter(has_text="exo is not reachable")
    expect(banner).to_be_hidden()
    httpx.post(f"{exo_url}/_sim/faults", json={"error_rate": 1.0})
    try:
        expect(banner).to_be_visible(timeout=10000)
        expect(page.locator("article[data-node=alpha] .badge")).to_have_text("degraded")
        expect(page.locator("#instances")).to_contain_text("Unknown while exo is unreachable")
    finally:
        httpx.delete(f"{exo_url}/_sim/faults")
    expect(banner).to_be_hidden(timeout=10000)
    expect(page.locator("article[data-node=alpha] .badge")).to_have_text("online")
