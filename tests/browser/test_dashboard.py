"""The main flow in a real Chromium: log in, see the dashboard and jobs panel, run a job."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from cluster_app.models import Node
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


def test_login_page_rejects_a_wrong_password_visibly(page, live_stack, alice):
    page.goto(f"{live_stack.base_url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")


def test_the_login_form_signs_in_and_lands_on_the_dashboard(page, live_stack, alice):
    log_in(page, live_stack.base_url, "alice", "alice-password-1")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_dashboard_shows_nodes_and_a_live_jobs_panel(logged_in, live_stack):
    page = logged_in
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for name in ("ALPHA", "BETA", "GAMMA"):
        expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.locator("#totals")).to_contain_text("of 768 GB in use")
    expect(page.locator("#topology")).to_contain_text("RDMA")
    expect(page.locator("article[data-node=alpha] .badge")).to_have_text("online")
    expect(page.locator("article[data-node=alpha]")).to_contain_text("/ 512 GB")
    panel = page.get_by_role("complementary", name="Jobs")
    expect(panel.get_by_text("live")).to_be_visible()
    expect(panel.get_by_text("No jobs yet")).to_be_visible()

    page.locator("article[data-node=alpha] button.ping").click()
    row = panel.locator(".job-row").first
    expect(row).to_contain_text("ping #", timeout=15000)  # a loaded machine's queue and socket
    expect(row.get_by_role("progressbar")).to_be_visible()
    expect(row.locator(".state")).to_have_text("succeeded", timeout=20000)
    expect(row).to_contain_text("100%")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_job_page_pauses_resumes_and_cancels(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/jobs/")
    page.get_by_label("Rounds").fill("20")
    page.get_by_label("Interval (s)").fill("2")
    page.get_by_role("button", name="Start").click()
    page.locator("#job-list .job-row a").first.click()
    expect(page.locator("#job-row .state")).to_have_text("running", timeout=15000)
    actions = page.locator(".actions")
    actions.get_by_role("button", name="Pause").click()
    expect(page.locator("#job-row .state")).to_have_text("paused", timeout=15000)
    actions.get_by_role("button", name="Resume").click()
    expect(page.locator("#job-row .state")).to_have_text("running", timeout=15000)
    actions.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-row .state")).to_have_text("cancelled", timeout=15000)
    expect(page.locator("#job-log")).to_contain_text("round 1/20")


def test_bad_job_parameters_show_a_message_in_the_page(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/jobs/")
    page.get_by_label("Rounds").fill("0")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#job-form-error")).to_contain_text("count")


def test_gammas_card_and_page_show_its_gpu_as_nvml_reads_it(logged_in, live_stack):
    """GAMMA's worker runs the probe over the recorded H200 (tests/nvml_fake.py), as beat asks
    it to every poll; the card and the node page show what nvidia-smi showed."""
    page = logged_in
    Node.objects.filter(name="gamma").update(
        gpu_probe_command=[sys.executable, "-m", "tests.nvml_fake"])
    card = page.locator("article[data-node=gamma]")
    expect(card.locator(".badge")).to_have_text("online", timeout=15000)
    expect(card).to_contain_text("1 × NVIDIA H200 · driver 580.159.04")
    expect(card.locator(".mem-line")).to_have_text("GPU memory0 GB / 140 GB (0%)")
    expect(card).to_contain_text("35 °C")
    expect(card).to_contain_text("96 W / 700 W")
    expect(card).to_contain_text("Processesnone")
    expect(card.get_by_role("meter")).to_have_attribute("aria-valuemax", str(143771 * 1024**2))
    expect(card).not_to_contain_text("unmonitored")
    card.get_by_role("link", name="GAMMA").click()
    page.wait_for_url(f"{live_stack.base_url}/nodes/gamma/")
    row = page.locator("#gpu-table tr[data-gpu='0']")
    expect(row).to_have_text("0: NVIDIA H200" "0 MiB / 143771 MiB" "0%" "35 °C"
                             "95.93 W / 700 W" "none")
    page.screenshot(path=str(SCREENSHOT.parent / "gamma.png"), full_page=True)


def test_without_nvml_gammas_card_says_the_gpu_is_not_available(logged_in):
    """This machine has no NVIDIA driver: GAMMA's worker runs the real probe, which says so."""
    card = logged_in.locator("article[data-node=gamma]")
    expect(card.locator(".gpu-unavailable")).to_have_text(
        "GPU not available: NVML did not start: NVML Shared Library Not Found", timeout=15000)
    expect(card.locator(".badge")).to_have_text("degraded")


def test_the_strip_answers_is_everything_fine(logged_in, live_stack, loaded_llama,
                                              operator_token):
    page = logged_in
    strip = page.locator("#strip")
    expect(strip.locator('[data-chip="rdma"]')).to_have_text("RDMA: on")
    expect(strip.locator('[data-chip="rdma"]')).to_have_class(re.compile(r"\bstate-good\b"))
    expect(strip.locator('[data-chip="models"]')).to_have_text("Models ready: 1")
    nodes = strip.locator('[data-chip="nodes"]')
    expect(nodes).to_have_text(re.compile(r"^Nodes up: \d/\d"))
    up, watched = map(int, re.findall(r"\d+", nodes.inner_text()))
    expected = Node.objects.exclude(exo_node_id="").count()  # the Macs in exo; GAMMA: its worker
    assert watched >= expected and up <= watched
    expect(strip.locator('[data-chip="rate"]')).to_have_text("Tokens/s now: 0")
    answer = httpx.post(f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                        headers={"Authorization": f"Bearer {operator_token}"},
                        json={"model": "llama-3.2-1b", "max_tokens": 30, "stream": True,
                              "messages": [{"role": "user", "content": "Hello"}]})
    assert answer.status_code == 200 and answer.text.rstrip().endswith("[DONE]")
    rate = strip.locator('[data-chip="rate"]')
    expect(rate).to_contain_text("on llama-3.2-1b", timeout=15000)
    expect(rate).to_have_text(re.compile(r"^Tokens/s now: 0\.5 · last answer [\d.]+ on"))


def test_the_strip_names_the_alerts_firing(logged_in, live_stack, memory_rule):
    chip = logged_in.locator('#strip [data-chip="alerts"]')
    expect(chip).to_have_text(re.compile(
        r"^2 alerts firing: Memory over the safe zone: (alpha|beta); "
        r"Memory over the safe zone: (alpha|beta)$"), timeout=30000)
    expect(chip).to_have_class(re.compile(r"\bstate-warn\b"))  # a warning, none critical
    chip.get_by_role("link").click()
    expect(logged_in).to_have_url(f"{live_stack.base_url}/alerts/")
