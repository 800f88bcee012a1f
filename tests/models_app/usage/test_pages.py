"""The usage page and API: measured speed beside the guide's, and the week's savings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models_app.models import CostSettings, UsageRecord

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
