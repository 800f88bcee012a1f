"""What the planner is fed from the catalogue and the inventory."""

from __future__ import annotations

from typing import get_args

from models_app.models import LlmModel
from models_app.planner.core import Tier


def test_the_catalogues_tiers_are_the_planners():
    # plan_model hands the field's value over as a planner tier without a check.
    assert set(LlmModel.Tier.values) == set(get_args(Tier))
