"""Checks the doctor runs that other apps add: the Hub's comes from the catalogue, the one way
to the Hub, which cluster_app must not import. Registered when that app starts."""

from __future__ import annotations

from collections.abc import Callable

from cluster_app.health.checks import Outcome

Check = Callable[[], Outcome]
_registered: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    _registered[name] = check


def registered_checks() -> list[Check]:
    return list(_registered.values())
