"""The usage page and API: measured speed beside the guide's, and the week's savings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from cluster_app.access import throttle
from cluster_app.access.limits import CHAT_REQUESTS, CHAT_TOKENS
from cluster_app.models import ApiToken
from models_app.models import Benchmark, BenchmarkRun, CostSettings, UsageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(alice):
    UsageRecord.objects.create(user=alice, requested_model="deepseek-v3-4bit",
                               slug="deepseek-v3-4bit", model_id="mlx-community/DeepSeek-V3.1-4bit",
                               prompt_tokens=1_000_000,
                               completion_tokens=1_000_000, first_token_ms=2500,
                               tokens_per_second=158.0, duration_ms=9000)
    UsageRecord.objects.create(user=alice, requested_model="x", model_id="x", status="error",
                               http_status=404, error="not loaded")


def test_usage_api_measures_speed_and_savings(api_client, served):
    body = api_client.get("/api/v1/usage/").json()
    (deepseek,) = body["per_model"]  # errors are not counted as served
    assert deepseek["measured_tokens_per_second"] == 158.0
    assert deepseek["expected_tokens_per_second"] == 161.5
    assert deepseek["measured_first_token_seconds"] == 2.5
    assert deepseek["expected_first_token_seconds"] == "2-3"
    savings = {s["name"]: s for s in body["cost"]["savings"]}
    assert body["cost"]["electricity_per_week"] == "84.00"
    assert savings["Claude API (Sonnet)"]["cloud_cost_per_week"] == "18.00"  # $3 + $15
    assert savings["GPT-4"]["saving_per_week"] == "-71.50"  # $12.50 - $84
    assert [r["status"] for r in body["requests"]] == ["error", "ok"]


def test_electricity_is_editable(api_client, served):
    settings_row = CostSettings.current()
    settings_row.electricity_usd_per_hour = Decimal("0.10")
    settings_row.save()
    assert api_client.get("/api/v1/usage/").json()["cost"]["electricity_per_week"] == "16.80"


def test_usage_page_shows_both_tables(client, alice, served):
    client.force_login(alice)
    text = client.get("/usage/").content.decode()
    assert "Speed: measured against the guide" in text and "161.5" in text and "158.0" in text
    assert "Claude API (Sonnet)" in text and "$84.00 a week" in text


def test_usage_page_empty_state(client, alice):
    client.force_login(alice)
    assert "No requests yet" in client.get("/usage/").content.decode()


class Cells(HTMLParser):
    """Each row's cells, by row data-key and cell data-kind."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.row = self.kind = ""

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "tr" and "data-key" in found:
            self.row = found["data-key"]
        if tag == "td":
            self.kind = found.get("data-kind", "")

    def handle_data(self, data):
        if self.kind and data.strip():
            self.cells[(self.row, self.kind)] = data.strip()
            self.kind = ""



def test_usage_page_shows_each_keys_use_against_its_limits(client, alice, bob, settings):
    settings.RATE_CHAT_REQUESTS_PER_MINUTE = 300
    key, _ = ApiToken.issue(user=alice, name="claude", chat_requests_per_minute=60)
    ApiToken.issue(user=bob, name="bob's")
    revoked, _ = ApiToken.issue(user=alice, name="old")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at="2026-01-01T00:00:00Z")
    for _ in range(3):
        throttle.take_request(throttle.limits_for(CHAT_REQUESTS, alice, key))
    throttle.release(throttle.StreamSlots(), throttle.limits_for(CHAT_TOKENS, alice, key), 1234)

    client.force_login(alice)
    parser = Cells()
    parser.feed(client.get("/usage/").content.decode())
    assert parser.cells[(str(key.pk), "chat_requests_per_minute")] == "3 / 60"
    assert parser.cells[(str(key.pk), "chat_tokens_per_day")] == "1234 / —"
    assert parser.cells[("account", "chat_requests_per_minute")] == "3 / 300"
    assert {row for row, _ in parser.cells} == {"account", str(key.pk)}  # not bob's, not revoked


def test_usage_now_is_the_last_minutes_output(api_client, alice):
    def answered(seconds_ago: int, tokens: int, speed: float, slug: str = "llama-3.2-1b"):
        record = UsageRecord.objects.create(user=alice, requested_model=slug, slug=slug,
                                            model_id=slug, completion_tokens=tokens,
                                            tokens_per_second=speed, duration_ms=1000)
        UsageRecord.objects.filter(pk=record.pk).update(
            created_at=timezone.now() - timedelta(seconds=seconds_ago))

    assert api_client.get("/api/v1/usage/now/").json() == {
        "window_seconds": 60, "answers": 0, "tokens_per_second": 0.0, "last_answer": None}
    answered(600, 6000, 90.0, "deepseek-v3-4bit")  # out of the window
    answered(30, 900, 150.0)
    answered(5, 300, 160.0)
    now = api_client.get("/api/v1/usage/now/").json()
    assert now == {"window_seconds": 60, "answers": 2, "tokens_per_second": 20.0,
                   "last_answer": {"tokens_per_second": 160.0, "model": "llama-3.2-1b"}}


def test_a_benchmarks_measured_energy_replaces_the_flat_rate(api_client, client, alice, served):
    assert api_client.get("/api/v1/usage/").json()["cost"]["electricity_basis"] == "flat"
    benchmark = Benchmark.objects.create(
        model_id="mlx-community/DeepSeek-V3.1-4bit", slug="deepseek-v3-4bit", mode="instance",
        electricity_usd_per_kwh=Decimal("0.30"))
    BenchmarkRun.objects.create(
        benchmark=benchmark, sharding="Tensor", instance_meta="MlxJaccl", node_count=2,
        prompt_length=512, generation_length=128, run=1, prompt_tokens=512,
        generation_tokens=128, prefill_tps=900.0, generation_tps=150.0, energy_joules=480.0,
        joules_per_token=3.75, cost_per_million_usd=0.3125)
    cost = api_client.get("/api/v1/usage/").json()["cost"]
    assert cost["electricity_basis"] == "measured"
    assert cost["electricity_per_week"] == "0.31"  # a million tokens out at $0.3125 a million
    (measured,) = cost["measured"]
    assert measured["benchmark"] == benchmark.pk and measured["cost_per_million_usd"] == 0.3125
    assert measured["placement"] == "Tensor, MlxJaccl (RDMA), 2 nodes"
    client.force_login(alice)
    text = client.get("/usage/").content.decode()
    assert 'data-basis="measured"' in text and "$0.31 a week" in text
