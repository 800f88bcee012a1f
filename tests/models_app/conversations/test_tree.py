"""The conversation tree's pure core: threads, branches, titles and the Markdown export."""

from __future__ import annotations

from models_app.conversations.tree import (
    UNTITLED,
    Node,
    export_filename,
    thread,
    title_from,
    to_markdown,
)

# 1 user -> 2 answer -> 3 user -> 4 answer; 5 regenerates 2; 6 edits 3 and 7 answers it.
TREE = [Node(1, None), Node(2, 1), Node(3, 2), Node(4, 3), Node(5, 1), Node(6, 2), Node(7, 6)]


def test_the_thread_runs_from_the_root_to_the_leaf():
    assert thread(TREE, 4) == [1, 2, 3, 4]
    assert thread(TREE, 7) == [1, 2, 6, 7]
    assert thread(TREE, 5) == [1, 5]


def test_no_leaf_or_an_unknown_one_is_an_empty_thread_and_a_loop_ends():
    assert thread(TREE, None) == []
    assert thread(TREE, 99) == []
    assert thread([Node(1, 2), Node(2, 1)], 1) == [2, 1]


def test_a_title_is_the_first_line_cut_at_a_word():
    assert title_from("\n  Why is   the sky blue?\nThanks") == "Why is the sky blue?"
    long = "Explain " + "the cluster's memory planning " * 5
    title = title_from(long)
    assert title.endswith("…") and len(title) <= 61 and title.startswith("Explain the cluster")
    assert title_from("   \n ") == UNTITLED


def test_the_markdown_export_has_the_system_prompt_thinking_and_stats():
    text = to_markdown({"title": "Sky", "system_prompt": "Be brief."}, [
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Rayleigh scattering.", "reasoning": "Light.\nBlue.",
         "model": "llama-3.2-1b", "completion_tokens": 3, "tokens_per_second": 120.44,
         "first_token_seconds": 0.5, "status": "stopped"},
    ])
    assert text == (
        "# Sky\n\n## System\n\nBe brief.\n\n## User\n\nWhy is the sky blue?\n\n"
        "## Assistant (llama-3.2-1b · 3 tokens · 120.4 tokens/s · first token 0.50 s · "
        "stopped)\n\n> **Thinking**\n>\n> Light.\n> Blue.\n\nRayleigh scattering.\n")


def test_an_export_filename_is_safe():
    assert export_filename('Why "is" ../the sky?', 7, "md") == "conversation-7-why-is-the-sky.md"
    assert export_filename("", 7, "json") == "conversation-7.json"
