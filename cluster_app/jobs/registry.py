"""The registry of job kinds: what a job of each kind runs and how it may be started.

Each concept package that has job kinds lists them as `KINDS` in its `kinds` module; the
registry finds those modules on first use (arthur_panel.discovery), so no list is kept by hand
and nothing registers itself on import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from arthur_panel.celery import Lane
from arthur_panel.discovery import concept_modules
from cluster_app.access.rules import RUN_JOBS

if TYPE_CHECKING:
    from rest_framework import serializers

    from cluster_app.jobs.reporter import JobReporter
    from cluster_app.models import Job


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    # Does the work; returns the job's result (JSON-able) or raises.
    run: Callable[[Job, JobReporter], dict[str, Any] | None]
    # Can stop part-way and later continue from where it was.
    pausable: bool = False
    # Parameters accepted from `POST /api/v1/jobs/`; None: started only by its own endpoint.
    params: type[serializers.Serializer] | None = None
    needs_node: bool = True
    # The workers that run it: control work (cluster operations, health, model loads) has its
    # own, so long user jobs filling every bulk slot never hold it up.
    lane: Lane = Lane.BULK
    # How many jobs of this kind one user may have queued, running or paused (None: only the
    # overall JOB_MAX_ACTIVE_PER_USER applies).
    max_active_per_user: int | None = None
    # Needed to start it from `POST /api/v1/jobs/` and to cancel, pause or resume it.
    permission: str = RUN_JOBS


@functools.cache
def _kinds() -> dict[str, JobKind]:
    kinds: dict[str, JobKind] = {}
    for module in concept_modules("kinds"):
        for kind in module.KINDS:
            if kind.name in kinds:
                raise ImproperlyConfigured(f"Two job kinds are named {kind.name!r}.")
            kinds[kind.name] = kind
    return kinds


def get_kind(name: str) -> JobKind | None:
    return _kinds().get(name)


def all_kinds() -> list[JobKind]:
    return list(_kinds().values())


def startable_kinds() -> list[JobKind]:
    return [kind for kind in _kinds().values() if kind.params is not None]
