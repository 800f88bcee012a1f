"""A conversation's messages as a tree, in plain data: the thread from the root to a leaf, an
automatic title, and the Markdown export. No Django here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TITLE_LENGTH = 60
UNTITLED = "New chat"


@dataclass(frozen=True)
class Node:
    """What the tree needs of a message: its id and its parent's."""

    id: int
    parent_id: int | None


def thread(nodes: Iterable[Node], leaf_id: int | None) -> list[int]:
    """The ids from the root to `leaf_id`, root first; empty when there is no leaf, and cut at
    the first id whose parent is missing (a broken link never loops)."""
    parents = {node.id: node.parent_id for node in nodes}
    path: list[int] = []
    current = leaf_id
    while current is not None and current in parents and current not in path:
        path.append(current)
        current = parents[current]
    return path[::-1]


def title_from(text: str) -> str:
    """A title from a first question: its first non-empty line, spaces collapsed, cut at a word
    near TITLE_LENGTH characters with an ellipsis; UNTITLED if there is no text."""
    line = next((stripped for raw in text.splitlines() if (stripped := raw.strip())), "")
    line = re.sub(r"\s+", " ", line)
    if not line:
        return UNTITLED
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:") + "…"


def _stats(message: Mapping[str, Any]) -> str:
    parts = [str(message.get("model") or "")]
    if message.get("completion_tokens") is not None:
        parts.append(f"{message['completion_tokens']} tokens")
    if message.get("tokens_per_second") is not None:
        parts.append(f"{message['tokens_per_second']:.1f} tokens/s")
    if message.get("first_token_seconds") is not None:
        parts.append(f"first token {message['first_token_seconds']:.2f} s")
    if message.get("status") and message["status"] != "complete":
        parts.append(str(message["status"]))
    return " · ".join(part for part in parts if part)


def to_markdown(conversation: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> str:
    """The thread `messages` (dicts with role, content, reasoning, model, stats) as a Markdown
    document headed by the conversation's title and system prompt."""
    lines = [f"# {conversation.get('title') or UNTITLED}", ""]
    if conversation.get("system_prompt"):
        lines += ["## System", "", str(conversation["system_prompt"]), ""]
    for message in messages:
        if message["role"] == "user":
            lines += ["## User", ""]
        else:
            stats = _stats(message)
            lines += [f"## Assistant{f' ({stats})' if stats else ''}", ""]
            if message.get("reasoning"):
                quoted = "\n".join(f"> {line}" for line in str(message["reasoning"]).splitlines())
                lines += ["> **Thinking**", ">", quoted, ""]
            if message.get("error"):
                lines += [f"*Error: {message['error']}*", ""]
        lines += [str(message.get("content") or ""), ""]
    return "\n".join(lines).rstrip() + "\n"


def export_filename(title: str, conversation_id: int, extension: str) -> str:
    """A safe download name: `conversation-<id>-<title words>.<extension>`."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-")
    return f"conversation-{conversation_id}{f'-{words}' if words else ''}.{extension}"
