"""The registry of job kinds: what a job of each kind runs and how it may be started."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arthur_panel.celery import Lane

if TYPE_CHECKING:
    from rest_framework import serializers

    from cluster_app.models import Job
    from cluster_app.reporter import JobReporter


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
    permission: str | None = None


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def startable_kinds() -> list[JobKind]:
    return [kind for kind in _KINDS.values() if kind.params is not None]
