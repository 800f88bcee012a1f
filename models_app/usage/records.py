"""Writing and summarising usage records."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Sum
from django.utils import timezone

from models_app.bench.selectors import newest_costs
from models_app.models import CloudPrice, CostSettings, LlmModel, UsageRecord
from models_app.usage.costs import Price, measured_electricity, weekly_savings
from models_app.usage.meter import StreamMeter
from models_app.usage.metrics import observe_request


def record_usage(call: Any, meter: StreamMeter, *, http_status: int, status: str,
                 error: str) -> UsageRecord:
    record = UsageRecord.objects.create(
        user=call.user if getattr(call.user, "pk", None) else None, token=call.token,
        api=call.api, requested_model=call.requested[:200], model_id=call.model_id[:200],
        slug=call.slug or "", route=call.route[:255], stream=call.stream,
        prompt_tokens=meter.prompt_tokens, completion_tokens=meter.completion_tokens,
        first_token_ms=meter.first_token_ms, tokens_per_second=meter.tokens_per_second,
        duration_ms=round(((meter.finished_at or meter.started) - meter.started) * 1000),
        status=status, http_status=http_status, error=error[:500],
    )
    observe_request(record, task=call.task, token=call.token)
    return record


def usage_summary(*, recent: int = 50) -> dict[str, Any]:
    """Recent requests, measured speed per model beside the guide's, and the week's savings."""
    week_ago = timezone.now() - timedelta(days=7)
    catalogue = {m.exo_model_id or m.repo_id: m for m in LlmModel.objects.all()}
    per_model = []
    rows = (UsageRecord.objects.filter(status="ok").values("model_id")
            .annotate(requests=Count("id"), prompt=Sum("prompt_tokens"),
                      completion=Sum("completion_tokens"), tps=Avg("tokens_per_second"),
                      first_ms=Avg("first_token_ms")).order_by("-requests"))
    for row in rows:
        model = catalogue.get(row["model_id"])
        per_model.append({
            "model_id": row["model_id"], "slug": model.slug if model else None,
            "requests": row["requests"], "prompt_tokens": row["prompt"] or 0,
            "completion_tokens": row["completion"] or 0,
            "measured_tokens_per_second": round(row["tps"], 1) if row["tps"] else None,
            "measured_first_token_seconds": (round(row["first_ms"] / 1000, 2)
                                             if row["first_ms"] else None),
            "expected_tokens_per_second": model.expected_tokens_per_second if model else None,
            "expected_first_token_seconds": model.first_token_seconds if model else "",
        })
    week_records = UsageRecord.objects.filter(status="ok", created_at__gte=week_ago)
    week = week_records.aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    week_by_model = {row["model_id"]: row["completion"] or 0 for row in week_records.values(
        "model_id").annotate(completion=Sum("completion_tokens"))}
    measured = newest_costs({row["model_id"] for row in per_model} | set(week_by_model))
    prices = [Price(p.name, p.input_usd_per_million, p.output_usd_per_million)
              for p in CloudPrice.objects.all()]
    per_hour = Decimal(str(CostSettings.current().electricity_usd_per_hour))
    from_benchmarks = measured_electricity(
        week_by_model, {model: m["cost_per_million_usd"] for model, m in measured.items()})
    electricity, savings = weekly_savings(
        prices, prompt_tokens=week["prompt"] or 0, completion_tokens=week["completion"] or 0,
        electricity_per_hour=per_hour, electricity=from_benchmarks)
    return {
        "requests": [_record(r) for r in UsageRecord.objects.select_related("user")[:recent]],
        "per_model": per_model,
        "cost": {
            "window_days": 7, "prompt_tokens": week["prompt"] or 0,
            "completion_tokens": week["completion"] or 0,
            "electricity_per_week": str(electricity),
            "electricity_per_hour": str(per_hour),
            # "measured": every model's tokens at its newest benchmark's energy; "flat": the
            # hourly figure (the guide's ~$0.50) for every hour of the week.
            "electricity_basis": "flat" if from_benchmarks is None else "measured",
            "measured": [{"model_id": model_id, "slug": catalogue[model_id].slug
                          if model_id in catalogue else None,
                          "completion_tokens": week_by_model.get(model_id, 0), **figures}
                         for model_id, figures in sorted(measured.items())],
            "savings": [{"name": s.name, "cloud_cost_per_week": str(s.cloud_cost),
                         "saving_per_week": str(s.saving_per_week),
                         "saving_per_month": str(s.saving_per_month)} for s in savings],
        },
    }


def _record(record: UsageRecord) -> dict[str, Any]:
    return {
        "at": record.created_at.isoformat(),
        "user": record.user.get_username() if record.user else None,
        "api": record.api, "requested_model": record.requested_model, "model_id": record.model_id,
        "slug": record.slug, "route": record.route, "stream": record.stream,
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "first_token_ms": record.first_token_ms, "tokens_per_second": record.tokens_per_second,
        "duration_ms": record.duration_ms, "status": record.status,
        "http_status": record.http_status, "error": record.error,
    }


RATE_WINDOW_SECONDS = 60


def current_rate(now: Any = None) -> dict[str, Any]:
    """The cluster's output now: completion tokens of the answers that ended in the last
    minute, per second, and the last answer's own speed (the dashboard's strip)."""
    since = (now or timezone.now()) - timedelta(seconds=RATE_WINDOW_SECONDS)
    recent = UsageRecord.objects.filter(created_at__gt=since)
    window = recent.aggregate(answers=Count("id"), completion=Sum("completion_tokens"))
    last = (UsageRecord.objects.filter(status="ok", tokens_per_second__isnull=False)
            .values("tokens_per_second", "model_id", "slug").first())
    return {
        "window_seconds": RATE_WINDOW_SECONDS, "answers": window["answers"],
        "tokens_per_second": round((window["completion"] or 0) / RATE_WINDOW_SECONDS, 1),
        "last_answer": last and {"tokens_per_second": last["tokens_per_second"],
                                 "model": last["slug"] or last["model_id"]},
    }
