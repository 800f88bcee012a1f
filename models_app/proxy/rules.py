"""The guide's Model Router, as pure functions: a task picks the first ready model of its rule,
and a name the catalogue does not have (Claude Code's `claude-*` names) may name a task."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

DEFAULT_TASK = "default"


@dataclass(frozen=True)
class Route:
    task: str
    slug: str | None  # None: nothing on the rule's list is ready
    skipped: tuple[str, ...]  # preferred models passed over because they were not ready
    via: str = "auto"  # the name that asked for the route: `auto`, or one routed by its pattern

    def describe(self) -> str:
        """`auto:coding -> llama-3.1-70b (deepseek-v3-4bit not ready)`."""
        chosen = self.slug or "none ready"
        why = f" ({', '.join(self.skipped)} not ready)" if self.skipped else ""
        return f"{self.via}:{self.task} -> {chosen}{why}"


def choose(task: str | None, rules: dict[str, list[str]], ready: set[str],
           via: str = "auto") -> Route:
    """Route `task` (unknown or missing: the default rule) to its first ready model."""
    name = task if task in rules else DEFAULT_TASK
    preferred = rules.get(name, [])
    for index, slug in enumerate(preferred):
        if slug in ready:
            return Route(name, slug, tuple(preferred[:index]), via)
    return Route(name, None, tuple(preferred), via)


def routed_task(name: str, patterns: Iterable[tuple[str, str]]) -> str | None:
    """The task of the first (pattern, task) whose shell-style pattern matches `name`, in any
    case; None when none does."""
    lowered = name.lower()
    return next((task for pattern, task in patterns if fnmatchcase(lowered, pattern.lower())),
                None)
