"""The chat proxy's families, counted as each request ends (`records.record_usage`) in the web
process that served it; every web process writes its own file and a scrape adds them up
(cluster_app/metrics). Events, so pushed; the labels stay bounded: the model is the catalogue's
exo id (a name the catalogue does not know is client text: `other`), the route the router's
task, the key its name or hint (at most KEY_LABELS of them per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from cluster_app.metrics.rules import OTHER, BoundedLabel, key_label
from cluster_app.models import ApiToken
from models_app.models import UsageRecord

KEY_LABELS = 100
DIRECT = "direct"  # a model asked for by name, not through the router

REQUESTS = Counter(
    "arthur_proxy_requests", "Requests through /v1, by API (chat, messages), model, router "
    "task, outcome (ok, failed, cancelled, error) and API key.",
    ["api", "model", "route", "status", "key"])
FIRST_TOKEN = Histogram(
    "arthur_proxy_first_token_seconds", "Time from the request to exo's first token.",
    ["model"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, float("inf")))
DURATION = Histogram(
    "arthur_proxy_request_duration_seconds", "Time from the request to the answer's end.",
    ["model", "status"], buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, float("inf")))
TOKENS = Counter("arthur_proxy_tokens", "Tokens in (prompt) and out (completion), by model.",
                 ["model", "direction"])
SPEED = Histogram(
    "arthur_proxy_tokens_per_second", "Generation speed of each answer, as exo streamed it.",
    ["model"], buckets=(1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 200, float("inf")))

_keys = BoundedLabel(KEY_LABELS)


def observe_request(record: UsageRecord, *, task: str, token: ApiToken | None) -> None:
    """Count one finished request, as its usage record says."""
    model = record.model_id if record.slug else OTHER
    key = _keys(key_label(token.name, token.hint)) if token is not None else "session"
    REQUESTS.labels(record.api, model, task or DIRECT, record.status, key).inc()
    DURATION.labels(model, record.status).observe(record.duration_ms / 1000)
    if record.first_token_ms is not None:
        FIRST_TOKEN.labels(model).observe(record.first_token_ms / 1000)
    if record.tokens_per_second:
        SPEED.labels(model).observe(record.tokens_per_second)
    TOKENS.labels(model, "in").inc(record.prompt_tokens or 0)
    TOKENS.labels(model, "out").inc(record.completion_tokens or 0)
