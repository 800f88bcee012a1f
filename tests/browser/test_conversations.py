"""Conversations in the Playground, in a real Chromium: a three-turn chat survives a reload,
an edited question branches off with its own answer (the old branch kept as an alternative),
a regenerated answer is switchable, the export downloads the thread as Markdown, an answer
cut short by leaving the page is kept as far as it came, and a
Compare turn keeps both answers side by side, the thread going on from the one picked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from models_app.models import Conversation, Message
from tests.browser.test_playground import (  # noqa: F401 (loaded_llama_8b: a fixture)
    LLAMA_1B,
    LLAMA_8B,
    MODEL,
    PROMPT,
    loaded_llama_8b,
    open_playground,
)
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def say(page: Page, text: str, turns: int) -> None:
    """Send `text` and wait for its answer, the thread then holding `turns` answers."""
    page.get_by_label(PROMPT).fill(text)
    page.get_by_role("button", name="Send").click()
    answers = page.locator("#thread .pg-column")
    expect(answers).to_have_count(turns, timeout=15000)
    expect(answers.last.locator(".pg-state")).to_have_text("done", timeout=15000)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_a_conversation_is_kept_branched_and_exported(logged_in, live_stack, loaded_llama,
                                                      speeds, tmp_path: Path):
    speeds(LLAMA_1B, 50)  # 1,000 tokens/s
    page = open_playground(logged_in, live_stack.base_url)
    expect(page.get_by_text("No conversations yet — pick a ready model")).to_be_visible()
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label("Max tokens").fill("24")
    for turn, text in enumerate(["Why is the sky blue?", "And at sunset?", "Thanks!"], start=1):
        say(page, text, turn)
    expect(page.locator("#conversations a")).to_have_text("Why is the sky blue?")
    expect(page.get_by_role("heading", level=1)).to_have_text("Why is the sky blue?")
    expect(page).to_have_url(re.compile(r"/playground/c/\d+/$"))
    column = page.locator("#thread .pg-column").last
    expect(column.locator("[data-stat=tps]")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    expect(column.locator("[data-expected=tps]")).to_contain_text("guide:")

    # All of it is in the database: a reload shows the same thread.
    page.reload()
    bubbles = page.locator("#thread .pg-user")
    expect(bubbles).to_have_count(3)
    expect(bubbles.nth(1)).to_contain_text("And at sunset?")
    answers = page.locator("#thread .pg-column")
    expect(answers).to_have_count(3)
    expect(answers.first.locator(".pg-state")).to_have_text("done")
    expect(answers.first.locator(".pg-model")).to_have_text("Llama 3.2 1B 4-bit")
    expect(answers.first.locator("[data-stat=completion-tokens]")).to_have_text("24")
    expect(page.get_by_role("heading", level=1)).to_have_text("Why is the sky blue?")

    # Edit the second question: it is asked again, the thread follows the new branch.
    bubbles.nth(1).get_by_role("button", name="Edit").click()
    page.get_by_label("Edit message").fill("And at noon?")
    page.get_by_role("button", name="Submit edit").click()
    expect(answers).to_have_count(2)
    expect(answers.last.locator(".pg-state")).to_have_text("done", timeout=15000)
    expect(bubbles).to_have_count(2)
    expect(bubbles.nth(1).locator(".pg-user-text")).to_have_text("And at noon?")
    expect(bubbles.nth(1).locator(".pg-alternative")).to_have_text("2/2")
    bubbles.nth(1).get_by_role("button", name="Previous alternative").click()
    expect(bubbles).to_have_count(3)  # the old branch, whole
    expect(bubbles.nth(1).locator(".pg-user-text")).to_have_text("And at sunset?")
    bubbles.nth(1).get_by_role("button", name="Next alternative").click()
    expect(bubbles.nth(1).locator(".pg-user-text")).to_have_text("And at noon?")

    # Regenerate the last answer: both are kept, switchable.
    answers.last.get_by_role("button", name="Regenerate").click()
    expect(page.locator("#thread .pg-turn").last.locator(".pg-alternative")).to_have_text(
        "2/2", timeout=15000)
    expect(answers.last.locator(".pg-state")).to_have_text("done")
    page.locator("#thread .pg-turn").last.get_by_role("button",
                                                      name="Previous alternative").click()
    expect(page.locator("#thread .pg-turn").last.locator(".pg-alternative")).to_have_text("1/2")

    # View code sends the whole thread.
    page.get_by_label(PROMPT).fill("Next")
    page.get_by_role("button", name="View code").click()
    curl = page.locator("#code-curl")
    expect(curl).to_contain_text('{"role":"user","content":"And at noon?"},{"role":"assistant"')
    expect(curl).not_to_contain_text("And at sunset?")

    # The export: the thread shown, as a Markdown file.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export Markdown").click()
    conversation = Conversation.objects.get()
    assert download.value.suggested_filename == (
        f"conversation-{conversation.pk}-why-is-the-sky-blue.md")
    saved = tmp_path / "export.md"
    download.value.save_as(saved)
    text = saved.read_text()
    assert text.startswith("# Why is the sky blue?\n")
    assert text.count("## User") == 2 and "And at noon?" in text and "sunset" not in text
    assert "## Assistant (llama-3.2-1b · 24 tokens" in text
    # 3 questions and answers, the edit and its answer, the regenerated answer.
    assert Message.objects.filter(conversation=conversation).count() == 9

    # Leaving the page mid-answer: what had arrived is saved, as stopped.
    speeds(LLAMA_1B, 0.5)  # 10 tokens/s
    page.get_by_label("Max tokens").fill("400")
    page.get_by_label(PROMPT).fill("Tell me more")
    page.get_by_role("button", name="Send").click()
    streaming = page.locator("#thread .pg-column").last
    expect(streaming.locator(".pg-state")).to_have_text("streaming", timeout=15000)
    expect(streaming.locator(".pg-output")).to_have_text(re.compile(r"\w+ \w+ \w+"))
    page.reload()
    left = wait_until(lambda: Message.objects.filter(conversation=conversation,
                                                     status="stopped").first(), timeout=15)
    assert left.content.split() and left.error == "The page was left before the answer ended."
    assert left.parent.content == "Tell me more" and left.model == "llama-3.2-1b"
    page.reload()
    expect(answers.last.locator(".pg-state")).to_have_text("stopped")
    expect(answers.last.locator(".pg-output")).to_contain_text(left.content.split()[0])


@pytest.mark.usefixtures("loaded_llama_8b")
def test_a_compared_turn_goes_on_from_the_answer_picked(logged_in, live_stack, speeds):
    speeds(LLAMA_1B, 50)
    speeds(LLAMA_8B, 50)
    page = open_playground(logged_in, live_stack.base_url)
    expect(page.locator("#model-a option[value='llama-3.1-8b']")).to_have_attribute(
        "data-status", "ready", timeout=15000)
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label("Compare", exact=True).check()
    page.get_by_label("Compare with").select_option("llama-3.1-8b")
    page.get_by_label("Max tokens").fill("16")
    say(page, "Which of you is faster?", 2)
    expect(page.locator("#thread .pg-column").first.locator(".pg-state")).to_have_text("done")

    page.reload()  # both answers were saved, side by side, the first on the thread
    columns = page.locator("#thread .pg-turn .pg-column")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_have_class(re.compile(r"\bpg-current\b"))
    expect(columns.nth(1).locator(".pg-model")).to_have_text("Llama 3.1 8B 4-bit")
    expect(columns.nth(1).locator("[data-expected=tps]")).to_contain_text("guide:")
    columns.nth(1).get_by_role("button", name="Continue from this").click()
    expect(columns.nth(1)).to_have_class(re.compile(r"\bpg-current\b"))

    page.get_by_label("Compare", exact=True).uncheck()
    say(page, "Thanks, and you?", 3)
    question = Message.objects.get(content="Thanks, and you?")
    assert question.parent is not None and question.parent.model == "llama-3.1-8b"
