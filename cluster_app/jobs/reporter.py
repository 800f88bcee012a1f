"""The one progress reporter every long task calls.

It keeps the job's numbers in memory, saves the row at most about once a second, sends live
events a few times a second at most, and tells the work when it has been asked to stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from arthur_panel.redaction import redact_secrets
from cluster_app.jobs import events
from cluster_app.jobs.progress import SpeedMeter, Throttle, bounded_tail, eta_seconds, fraction
from cluster_app.jobs.serializers import JobSerializer
from cluster_app.models import LOG_TAIL_LINES, Job

SAVE_INTERVAL = 1.0
EVENT_INTERVAL = 0.25


class JobStopped(Exception):
    """Raised inside the work when the job was asked to cancel or pause."""

    def __init__(self, control: str) -> None:
        super().__init__(control)
        self.control = control


class JobReporter:
    def __init__(self, job: Job, *, clock: Callable[[], float] = time.monotonic,
                 listener: Callable[[Job], None] | None = None) -> None:
        self.job = job
        self._clock = clock
        # Called on every report, unthrottled: a terminal progress bar, for one.
        self._listener = listener
        self._meter = SpeedMeter()
        self._save = Throttle(SAVE_INTERVAL)
        self._send = Throttle(EVENT_INTERVAL)
        self._control_check = Throttle(SAVE_INTERVAL)
        self._new_lines: list[str] = []

    def progress(
        self,
        done: int,
        total: int | None = None,
        *,
        message: str | None = None,
        unit: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Report the running total; raises JobStopped when asked to cancel or pause."""
        job = self.job
        now = self._clock()
        if detail is not None:
            job.detail = detail
        if total is not None:
            job.total = total
        if unit is not None:
            job.unit = unit
        if message is not None:
            job.message = redact_secrets(message)[:255]
        job.done = done
        job.progress = fraction(done, job.total)
        job.speed = self._meter.update(now, done)
        job.eta_seconds = eta_seconds(done, job.total, job.speed)
        if self._listener:
            self._listener(job)
        self._flush(now)
        self.check()

    def log(self, line: str) -> None:
        self._new_lines.append(redact_secrets(line.rstrip("\n"))[:1000])
        self._flush(self._clock())

    def tick(self) -> None:
        """For waits with nothing new to report: save and send log lines still pending (as
        throttled as ever), then check() for a cancel or pause."""
        self._flush(self._clock())
        self.check()

    def check(self) -> None:
        """Raise JobStopped if a cancel or pause was asked for (read at most once a second)."""
        if not self._control_check.ready(self._clock()):
            return
        control = Job.objects.filter(pk=self.job.pk).values_list("control", flat=True).first()
        if control:
            raise JobStopped(control)

    def flush(self) -> None:
        """Save and send now, whatever the throttles say (state changes, the end)."""
        self._write()
        self._publish()

    def _flush(self, now: float) -> None:
        if self._save.ready(now):
            self._write()
        if self._send.ready(now):
            self._publish()

    def _write(self) -> None:
        job = self.job
        job.log_tail = bounded_tail(job.log_tail, self._new_lines, LOG_TAIL_LINES)
        self._new_lines = []
        job.heartbeat_at = timezone.now()
        fields = ["progress", "done", "total", "unit", "speed", "eta_seconds", "message",
                  "log_tail", "detail", "heartbeat_at", "updated_at"]
        job.save(update_fields=fields)

    def _publish(self) -> None:
        publish_job(self.job,
                    log_tail=bounded_tail(self.job.log_tail, self._new_lines, LOG_TAIL_LINES))


def job_payload(job: Job, **overrides: Any) -> dict[str, Any]:
    return {**JobSerializer(job).data, **overrides}


def publish_job(job: Job, **overrides: Any) -> None:
    events.publish(
        [events.JOBS_GROUP, events.job_group(job.pk)],
        {"type": "job.update", "job": job_payload(job, **overrides)},
    )
