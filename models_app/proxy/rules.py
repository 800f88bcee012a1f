"""The guide's Model Router, as a pure function: a task picks the first ready model of its rule."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TASK = "default"


@dataclass(frozen=True)
class Route:
    task: str
    slug: str | None  # None: nothing on the rule's list is ready
    skipped: tuple[str, ...]  # preferred models passed over because they were not ready

    def describe(self) -> str:
        """`auto:coding -> llama-3.1-70b (deepseek-v3-4bit not ready)`."""
        chosen = self.slug or "none ready"
        why = f" ({', '.join(self.skipped)} not ready)" if self.skipped else ""
        return f"auto:{self.task} -> {chosen}{why}"


def choose(task: str | None, rules: dict[str, list[str]], ready: set[str]) -> Route:
    """Route `task` (unknown or missing: the default rule) to its first ready model."""
    name = task if task in rules else DEFAULT_TASK
    preferred = rules.get(name, [])
    for index, slug in enumerate(preferred):
        if slug in ready:
            return Route(name, slug, tuple(preferred[:index]))
    return Route(name, None, tuple(preferred))
