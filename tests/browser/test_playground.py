"""The Playground in a real Chromium: stream an answer with live stats, stop it, see a model
that is not loaded explained, compare two models, and copy the request as code."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.models_app.proxy import test_live as test_proxy_live
from tests.stack import api, wait_until

LLAMA_1B = test_proxy_live.LLAMA_1B
pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
LLAMA_8B = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
# A label's accessible name includes the value of the control inside it.
MODEL, PROMPT = re.compile(r"^Model"), re.compile(r"^Prompt")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "playground.png"


def open_playground(page: Page, base_url: str) -> Page:
    page.goto(f"{base_url}/playground/")
    # The picker follows the cluster live, so a model that just became ready shows up.
    expect(page.locator("#model-a option[value='llama-3.2-1b']")).to_have_attribute(
        "data-status", "ready", timeout=15000)
    return page


def test_a_prompt_streams_with_live_stats(logged_in, live_stack, loaded_llama, speeds):
    speeds(LLAMA_1B, 5)  # 100 tokens/s: a few seconds of streaming
    page = open_playground(logged_in, live_stack.base_url)
    first_option = page.locator("#model-a option").first
    expect(first_option).to_have_text("Llama 3.2 1B 4-bit — ready")  # ready models come first
    expect(page.locator("#model-a option[value='deepseek-v3-4bit']")).to_have_text(
        "DeepSeek V3 4-bit — not loaded")
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label("System prompt").fill("Answer briefly.")
    page.get_by_label(PROMPT).fill("Why is the sky blue?")
    page.get_by_role("button", name="Send").click()

    column = page.locator(".pg-column")
    expect(column.locator(".pg-state")).to_have_text("streaming")
    expect(column.locator(".pg-output")).to_contain_text("You asked: Answer briefly. Why is")
    expect(column.locator(".pg-state")).to_have_text("done", timeout=15000)
    expect(column.locator(".pg-prefill-text")).to_contain_text("tokens")  # it was read...
    expect(column.locator(".pg-prefill")).to_be_hidden()  # ...and its bar went with the answer
    expect(column.locator(".pg-served")).to_contain_text(LLAMA_1B)
    expect(column.locator("[data-stat=first-token]")).to_have_text(re.compile(r"^\d+\.\d\d s$"))
    expect(column.locator("[data-stat=tps]")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    completion = int(column.locator("[data-stat=completion-tokens]").inner_text())
    assert completion > 8 and int(column.locator("[data-stat=prompt-tokens]").inner_text()) > 0
    assert 30 < float(column.locator("[data-stat=tps]").inner_text()) < 300
    expect(column.locator("[data-expected=tps]")).to_contain_text("guide:")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_stop_ends_the_stream_mid_answer(logged_in, live_stack, loaded_llama, speeds):
    speeds(LLAMA_1B, 0.5)  # 10 tokens/s: over ten seconds for a whole answer
    page = open_playground(logged_in, live_stack.base_url)
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label("Max tokens").fill("4000")
    page.get_by_label(PROMPT).fill("Tell me a long story")
    page.get_by_role("button", name="Send").click()
    output = page.locator(".pg-output")
    expect(output).to_contain_text("You asked: Tell me a long story", timeout=20000)
    page.get_by_role("button", name="Stop").click()

    expect(page.locator(".pg-state")).to_have_text("stopped")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    stopped_at = output.inner_text()
    page.wait_for_timeout(1000)
    assert output.inner_text() == stopped_at  # nothing more arrives
    assert page.locator("[data-stat=tps]").inner_text() != "—"  # counted from chunks


def test_a_model_not_loaded_shows_the_panels_message(logged_in, live_stack, loaded_llama):
    page = open_playground(logged_in, live_stack.base_url)
    page.get_by_label(MODEL).select_option("deepseek-v3-4bit")
    page.get_by_label(PROMPT).fill("Hello")
    page.get_by_role("button", name="Send").click()
    error = page.locator(".pg-error")
    expect(error).to_contain_text("404: Model deepseek-v3-4bit (mlx-community/DeepSeek-V3.1-4bit) "
                                  "is not loaded")
    expect(page.locator(".pg-state")).to_have_text("error")


@pytest.fixture
def loaded_llama_8b(live_stack, alice_token, loaded_llama) -> Iterator[str]:
    """A second model to compare with, loaded beside Llama 3.2 1B."""
    with api(live_stack, alice_token) as client:
        job = client.post("/api/v1/instances/", json={"model": LLAMA_8B}).json()
        job_url = f"/api/v1/jobs/{job['id']}/"
        wait_until(lambda: client.get(job_url).json()["state"] == "succeeded", timeout=30)
        instance_id = client.get(job_url).json()["result"]["instance_id"]
        yield instance_id
        client.delete(f"/api/v1/instances/{instance_id}/")


def test_compare_streams_two_models_side_by_side(logged_in, live_stack, loaded_llama_8b,
                                                 speeds):
    speeds(LLAMA_1B, 5)
    speeds(LLAMA_8B, 2.5)
    page = open_playground(logged_in, live_stack.base_url)
    expect(page.locator("#model-a option[value='llama-3.1-8b']")).to_have_attribute(
        "data-status", "ready", timeout=15000)
    page.get_by_label("Compare", exact=True).check()
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label("Compare with").select_option("llama-3.1-8b")
    page.get_by_label(PROMPT).fill("Which of you is faster?")
    page.get_by_role("button", name="Send").click()

    columns = page.locator(".pg-column")
    expect(columns).to_have_count(2)
    expect(columns.nth(0).locator(".pg-model")).to_have_text("Llama 3.2 1B 4-bit")
    expect(columns.nth(1).locator(".pg-model")).to_have_text("Llama 3.1 8B 4-bit")
    for i in range(2):
        expect(columns.nth(i).locator(".pg-state")).to_have_text("done", timeout=15000)
        tokens = columns.nth(i).locator("[data-stat=completion-tokens]")
        expect(tokens).to_have_text(re.compile(r"^\d+$"))
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_view_code_shows_the_request_safely_quoted(logged_in, live_stack, loaded_llama,
                                                   alice_token):
    page = open_playground(logged_in, live_stack.base_url)
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label(PROMPT).fill("It's $(date)")
    page.get_by_role("button", name="View code").click()

    curl = page.locator("#code-curl")
    expect(curl).to_contain_text(f"curl -N '{live_stack.base_url}/v1/chat/completions'")
    expect(curl).to_contain_text('"model":"llama-3.2-1b"')
    expect(curl).to_contain_text("Bearer $ARTHUR_TOKEN")
    expect(curl).to_contain_text("\"content\":\"It'\\''s $(date)\"")  # ' closed, escaped, reopened
    python = page.locator("#code-python")
    expect(python).to_contain_text(f'OpenAI(base_url="{live_stack.base_url}/v1"')
    expect(python).to_contain_text('model="llama-3.2-1b"')
    page.get_by_label("Temperature").fill("0.2")  # the code follows the form
    expect(curl).to_contain_text('"temperature":0.2')

    # The shell gets the prompt exactly as typed: no command ran, the quote arrived.
    ran = subprocess.run(["bash", "-c", curl.inner_text()], capture_output=True, text=True,
                         env={**os.environ, "ARTHUR_TOKEN": alice_token}, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert "$(date)" in ran.stdout and "It's" in ran.stdout
    assert ran.stdout.rstrip().endswith("data: [DONE]")
