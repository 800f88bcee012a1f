"""The guide's cost analysis with real numbers: what the tokens served would have cost on cloud
APIs, against the cluster's electricity. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

MILLION = Decimal(1_000_000)
WEEK_HOURS = Decimal(24 * 7)
MONTH_WEEKS = Decimal(30) / Decimal(7)


@dataclass(frozen=True)
class Price:
    name: str
    input_per_million: Decimal
    output_per_million: Decimal


@dataclass(frozen=True)
class Saving:
    name: str
    cloud_cost: Decimal  # the week's tokens at this provider's prices
    saving_per_week: Decimal  # cloud cost minus the cluster's electricity for the week
    saving_per_month: Decimal


def cloud_cost(price: Price, prompt_tokens: int, completion_tokens: int) -> Decimal:
    return (Decimal(prompt_tokens) * price.input_per_million
            + Decimal(completion_tokens) * price.output_per_million) / MILLION


def measured_electricity(tokens_by_model: dict[str, int],
                         cost_per_million_by_model: dict[str, float]) -> Decimal | None:
    """The electricity of the tokens each model generated at the cost per million generated
    tokens its benchmark measured; None unless every model that generated tokens has one."""
    if not tokens_by_model or any(model not in cost_per_million_by_model
                                  for model, tokens in tokens_by_model.items() if tokens):
        return None
    total = sum((Decimal(tokens) * Decimal(str(cost_per_million_by_model[model])) / MILLION
                 for model, tokens in tokens_by_model.items() if tokens), Decimal(0))
    return total.quantize(Decimal("0.01"))


def weekly_savings(prices: list[Price], *, prompt_tokens: int, completion_tokens: int,
                   electricity_per_hour: Decimal, electricity: Decimal | None = None
                   ) -> tuple[Decimal, list[Saving]]:
    """For a week's tokens: the week's electricity (`electricity` when measured, else the
    flat rate for every hour), and per provider what the cluster saved."""
    if electricity is None:
        electricity = (electricity_per_hour * WEEK_HOURS).quantize(Decimal("0.01"))
    savings = []
    for price in prices:
        cost = cloud_cost(price, prompt_tokens, completion_tokens).quantize(Decimal("0.01"))
        week = cost - electricity
        month = (week * MONTH_WEEKS).quantize(Decimal("0.01"))
        savings.append(Saving(price.name, cost, week, month))
    return electricity, savings
