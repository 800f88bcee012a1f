"""Answers in the Playground, in a real Chromium: Markdown rendered (headings, lists, tables,
links, highlighted code with a Copy button), nothing a model writes runs script or loads
anything, a thinking model's reasoning folds into a Thinking block, and a 1 MB answer renders.
The exo simulator plays the answers (its canned answer_text and reasoning_text)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from simulators.exo.generation import split_tokens
from tests.browser.test_csp import Watched
from tests.browser.test_playground import LLAMA_1B, MODEL, PROMPT, open_playground

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

CODE = 'def greet(name):\n    return f"Hello, {name}"'
HOSTILE = f"""# Speeds measured

## On the cluster

- first item
- second item

1. one
2. two

| Model | Tokens/s |
|---|---:|
| Llama 3.2 1B | 161.5 |

<script>alert(1)</script>

<img src=x onerror="alert(2)">

![a remote picture](http://example.com/picture.png)

<img src="http://example.com/raw.png">

[bad link](javascript:alert(3)) and [good link](https://example.org/docs)

<a href="https://example.com/z" onclick="alert(4)">raw anchor</a>

<iframe src="http://example.com/frame"></iframe>

<style>body {{ display: none }}</style>

<div style="color: red" onmouseover="alert(5)">styled</div>

```python
{CODE}
```
"""
FORBIDDEN_TAGS = {"script", "iframe", "style", "img", "object", "embed", "svg", "form", "link",
                  "meta", "video", "audio"}
# Every element and attribute in the answer, as the page holds them.
DOM_SUMMARY = """(root) => {
  const nodes = [...root.querySelectorAll("*")];
  return {
    tags: [...new Set(nodes.map((n) => n.tagName.toLowerCase()))],
    attributes: [...new Set(nodes.flatMap((n) => [...n.attributes].map((a) => a.name)))],
    hrefs: nodes.filter((n) => n.hasAttribute("href")).map((n) => n.getAttribute("href")),
  };
}"""


@pytest.fixture
def canned(exo_url: str) -> Iterator[Callable[..., None]]:
    """Make the simulator answer with these texts; its own filler comes back afterwards."""
    def answer(answer_text: str = "", reasoning_text: str = "") -> None:
        httpx.post(f"{exo_url}/_sim/settings", json={
            "answer_text": answer_text, "reasoning_text": reasoning_text}).raise_for_status()

    yield answer
    answer()


@pytest.fixture
def watched(logged_in: Page) -> Watched:
    return Watched(logged_in)


def ask(page: Page, prompt: str = "Show me", max_tokens: int = 4000) -> None:
    page.get_by_label(MODEL).select_option("llama-3.2-1b")
    page.get_by_label("Max tokens").fill(str(max_tokens))
    page.get_by_label(PROMPT).fill(prompt)
    page.get_by_role("button", name="Send").click()


def test_hostile_markdown_renders_as_text_and_markdown_as_markup(
        watched, live_stack, loaded_llama, canned, speeds):
    speeds(LLAMA_1B, 50)  # 1,000 tokens/s
    canned(answer_text=HOSTILE)
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if "example." in request.url else None)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live_stack.base_url)
    open_playground(page, live_stack.base_url)
    ask(page)
    column = page.locator(".pg-column")
    expect(column.locator(".pg-state")).to_have_text("done", timeout=20000)
    output = column.locator(".pg-output")

    # The Markdown is markup.
    expect(output.locator("h1")).to_have_text("Speeds measured")
    expect(output.locator("h2")).to_have_text("On the cluster")
    expect(output.locator("ul > li")).to_have_text(["first item", "second item"])
    expect(output.locator("ol > li")).to_have_text(["one", "two"])
    expect(output.locator("table th")).to_have_text(["Model", "Tokens/s"])
    expect(output.locator("table td")).to_have_text(["Llama 3.2 1B", "161.5"])
    good = output.get_by_role("link", name="good link")
    expect(good).to_have_attribute("href", "https://example.org/docs")
    expect(good).to_have_attribute("target", "_blank")
    expect(good).to_have_attribute("rel", "noopener noreferrer nofollow")
    # An image is a link to it, never loaded.
    expect(output.get_by_role("link", name="a remote picture")).to_have_attribute(
        "href", "http://example.com/picture.png")
    code = output.locator("pre code")
    expect(code).to_have_text(CODE)
    expect(code).to_have_class(re.compile(r"\bhljs\b"))
    expect(code.locator(".hljs-keyword").first).to_have_text("def")

    # The HTML is text.
    for raw in ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">',
                '<iframe src="http://example.com/frame"></iframe>',
                '<style>body { display: none }</style>', 'onclick="alert(4)">raw anchor</a>',
                '<div style="color: red" onmouseover="alert(5)">styled</div>']:
        expect(output).to_contain_text(raw)
    expect(output.get_by_text("bad link")).to_be_visible()
    dom = output.evaluate(DOM_SUMMARY)
    assert not FORBIDDEN_TAGS & set(dom["tags"]), dom["tags"]
    assert not [a for a in dom["attributes"] if a.startswith("on") or a == "style"], dom
    assert all(href.startswith(("https:", "http:")) for href in dom["hrefs"]), dom["hrefs"]
    assert "https://example.com/z" not in dom["hrefs"]  # the raw anchor stayed text

    # Copy: the code block's text, and the whole answer's Markdown.
    output.locator(".md-copy").click()
    expect(output.locator(".md-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == CODE
    column.get_by_role("button", name="Copy answer").click()
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE

    assert dialogs == []
    assert outside == []
    assert watched.violations() == []


def test_an_unclosed_code_fence_renders_as_code_while_it_streams(
        logged_in, live_stack, loaded_llama, canned, speeds):
    speeds(LLAMA_1B, 1)  # 20 tokens/s: the fence stays open for seconds
    lines = "\n".join(f"step_{i} = {i}" for i in range(200))
    canned(answer_text=f"Here is the code:\n\n```python\n{lines}\n```\n\nThat is all.\n")
    page = open_playground(logged_in, live_stack.base_url)
    ask(page)
    output = page.locator(".pg-output")
    expect(output.locator("pre code")).to_contain_text("step_3 = 3", timeout=20000)
    expect(page.locator(".pg-state")).to_have_text("streaming")
    expect(output.locator("p")).to_have_text("Here is the code:")  # the fence is not text
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".pg-state")).to_have_text("stopped")
    expect(output.locator("pre code .hljs-number").first).to_be_visible()  # highlighted at the end


def test_a_thinking_models_reasoning_folds_away_once_the_answer_starts(
        logged_in, live_stack, loaded_llama, canned, speeds):
    speeds(LLAMA_1B, 1)  # 20 tokens/s
    reasoning = " ".join(f"thought{i}" for i in range(30))
    canned(answer_text="The **answer** is 42.", reasoning_text=reasoning)
    page = open_playground(logged_in, live_stack.base_url)
    ask(page)
    thinking = page.locator(".answer-thinking")
    expect(thinking).to_be_visible(timeout=20000)
    expect(thinking).to_have_js_property("open", True)  # open while the model thinks
    expect(page.locator(".pg-state")).to_have_text("done", timeout=20000)

    expect(thinking).to_have_js_property("open", False)  # folded once it answered
    expect(thinking.locator(".answer-thinking-tokens")).to_have_text("30 tokens")
    seconds = float(thinking.locator(".answer-thinking-time").inner_text().removesuffix(" s"))
    assert 0.5 < seconds < 10  # 29 gaps at 20 tokens/s: about 1.5 s
    expect(thinking.locator(".answer-thinking-text")).to_have_text(reasoning)
    output = page.locator(".pg-output")
    expect(output.locator("strong")).to_have_text("answer")
    expect(output).not_to_contain_text("thought")
    expect(page.locator("[data-stat=completion-tokens]")).to_have_text(
        str(30 + len(split_tokens("The **answer** is 42."))))
    expect(page.locator(".pg-prefill-text")).to_contain_text("tokens")  # exo's prefill progress
    thinking.locator("summary").click()  # it opens again on demand
    expect(thinking.locator(".answer-thinking-text")).to_be_visible()


def megabyte_answer() -> str:
    """About 1 MB of Markdown in long words (so about 18,000 tokens, under the panel's
    max_tokens limit): headings, paragraphs, lists, code blocks and tables."""
    word = "megabyte" * 24
    parts: list[str] = []
    size, i = 0, 0
    while size < 1_000_000:
        block = (f"## Part {i}\n\n{word}{i} {word} {word}\n\n- {word}\n- {word}\n\n"
                 f"```python\nvalue_{i} = '{word}'\n```\n\n| name | part |\n|---|---|\n"
                 f"| {word} | {i} |\n\n")
        parts.append(block)
        size += len(block)
        i += 1
    parts.append("The end of the megabyte.\n")
    return "".join(parts)


# The longest time the page's main thread went without drawing a frame, from now on.
WATCH_FRAMES = """() => {
  window.__longestFrame = 0;
  let last = performance.now();
  const tick = (now) => {
    window.__longestFrame = Math.max(window.__longestFrame, now - last);
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def test_a_megabyte_answer_renders(logged_in, live_stack, loaded_llama, canned, speeds):
    answer = megabyte_answer()
    tokens = len(split_tokens(answer))
    assert len(answer) >= 1_000_000 and tokens < 32768
    speeds(LLAMA_1B, 10000)  # as fast as the stack carries it
    canned(answer_text=answer)
    page = open_playground(logged_in, live_stack.base_url)
    page.evaluate(WATCH_FRAMES)
    started = time.monotonic()
    ask(page, max_tokens=32768)
    expect(page.locator(".pg-state")).to_have_text("done", timeout=120000)
    output = page.locator(".pg-output")
    expect(output).to_contain_text("The end of the megabyte.", timeout=60000)
    seconds = time.monotonic() - started
    expect(page.locator("[data-stat=completion-tokens]")).to_have_text(str(tokens))
    parts = answer.count("## Part ")
    expect(output.locator("h2")).to_have_count(parts)
    expect(output.locator("table")).to_have_count(parts)
    expect(output.locator("pre code.hljs")).to_have_count(parts)
    assert output.evaluate("(root) => root.textContent.length") > 900_000
    longest = page.evaluate("window.__longestFrame")
    # Information only (no timing assertions in tests): shown with pytest -s.
    print(f"\n1 MB answer: {tokens} tokens streamed and rendered in {seconds:.1f} s; "
          f"longest frame {longest:.0f} ms")
