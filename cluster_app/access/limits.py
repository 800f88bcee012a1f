"""Rate limits, pure: which limits a request meets (its key's and its user's) and how a
refusal reads. A key's own limit narrows its user's; it never widens it, as both apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

CHAT_REQUESTS = "chat_requests_per_minute"
CHAT_TOKENS = "chat_tokens_per_day"
API_REQUESTS = "api_requests_per_minute"
STREAMS = "max_streams"
KINDS = (CHAT_REQUESTS, CHAT_TOKENS, API_REQUESTS, STREAMS)

LABELS = {
    CHAT_REQUESTS: "chat requests per minute",
    CHAT_TOKENS: "chat tokens per day",
    API_REQUESTS: "API requests per minute",
    STREAMS: "chat requests running at once",
}

WINDOW_SECONDS = 60  # of the per-minute limits: a sliding minute, not the clock's
# A refused stream cannot know when a running one ends: a short wait, then ask again.
STREAM_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Limit:
    kind: str
    subject: str  # "key:<id>" or "user:<pk>": whose counter it is
    allowed: int  # 0: none; the use is still counted, for the usage page

    @property
    def whose(self) -> str:
        return "this API key" if self.subject.startswith("key:") else "your account"

    @property
    def label(self) -> str:
        return LABELS[self.kind]


def applicable(kind: str, *, key_id: object | None, key_limit: int | None, user_pk: object,
               user_limit: int) -> list[Limit]:
    """The counters of `kind` a request adds to: its key's (with the key's own limit, if it
    sets one) and its user's (with the user's). The key's comes first, so a refusal names the
    narrower one when both are reached."""
    user = Limit(kind, f"user:{user_pk}", user_limit)
    return [user] if key_id is None else [Limit(kind, f"key:{key_id}", key_limit or 0), user]


def refusal(limit: Limit, retry_after: int) -> str:
    return (f"Rate limit reached: {limit.allowed} {limit.label} for {limit.whose} "
            f"({limit.kind}). Try again in {retry_after} s.")


def day_of(now: datetime) -> str:
    """The day a token counter belongs to, in the panel's time zone (`now` is local)."""
    return now.strftime("%Y%m%d")


def seconds_to_next_day(now: datetime) -> int:
    """Whole seconds until the daily counters start again (local midnight), at least 1."""
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds() + 0.999))


def retry_seconds(milliseconds: int) -> int:
    """A wait in ms as Retry-After's whole seconds, rounded up, at least 1."""
    return max(1, -(-milliseconds // 1000))
