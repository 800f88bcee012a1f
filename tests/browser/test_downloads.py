"""Downloads in a real Chromium: one click on a model page, live progress in the matrix,
pause and resume, then delete after confirmation."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from cluster_app.models import Node
from models_app.catalogue.services import model_add_from_hub

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "downloads.png"


@pytest.fixture
def wide(hub_endpoint, settings, live_stack):
    settings.HF_ENDPOINT = hub_endpoint
    shutil.rmtree(live_stack.models_dir, ignore_errors=True)
    httpx.put(f"{hub_endpoint}/_sim/bandwidth", json={"bytes_per_second": 150_000})
    yield model_add_from_hub(repo_id="sim-org/wide-4bit")
    httpx.put(f"{hub_endpoint}/_sim/bandwidth", json={"bytes_per_second": None})


def test_download_pause_resume_and_delete(logged_in, live_stack, wide, hub_endpoint):
    page = logged_in
    page.goto(f"{live_stack.base_url}/models/{wide.slug}/")
    page.get_by_label("Download to").select_option("beta")
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator(".download-status")).to_contain_text("BETA: queued")

    page.goto(f"{live_stack.base_url}/downloads/")
    cell = page.locator(f"td.cell[data-model='{wide.slug}'][data-node=beta]")
    expect(cell.locator(".cell-state")).to_have_text("running", timeout=15000)
    expect(cell).to_contain_text("/s")
    expect(cell).to_contain_text("ETA")
    expect(cell).to_contain_text("files")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    cell.get_by_role("button", name="Pause").click()
    expect(cell.locator(".cell-state")).to_have_text("paused", timeout=15000)
    httpx.put(f"{hub_endpoint}/_sim/bandwidth", json={"bytes_per_second": None})
    cell.get_by_role("button", name="Resume").click()
    expect(cell.locator(".cell-state")).to_have_text("succeeded", timeout=30000)
    expect(cell).to_contain_text("100%")
    folder = live_stack.models_dir / "beta" / "sim-org--wide-4bit"
    assert (folder / "config.json").exists()

    page.on("dialog", lambda dialog: dialog.accept())
    cell.get_by_role("button", name="Delete").click()
    expect(cell.locator(".cell-state")).to_have_text("deleted", timeout=15000)
    assert not folder.exists()


def test_a_refused_download_says_why_in_the_page(logged_in, live_stack, nodes, tmp_path):
    # A node exo does not report: the preflight asks this machine's disk, far under 712 GB.
    Node.objects.create(name="epsilon", display_name="EPSILON", ram_bytes=1024**4,
                        models_dir=str(tmp_path))
    page = logged_in
    page.goto(f"{live_stack.base_url}/models/deepseek-v3-8bit/")
    page.get_by_label("Download to").select_option("epsilon")
    page.get_by_role("button", name="Download", exact=True).click()
    expect(page.locator(".download-status.error")).to_contain_text("needs 712 GB")
