"""The `ping` job: a node's worker answers with its host facts and its broker round trips.

It proves the whole path (queue per node, worker, progress, live events, cancel, pause) on
any machine, and tells an operator which worker serves a node and how healthy its link is.
"""

from __future__ import annotations

import os
import platform
import socket
import statistics
import sys
import time
from typing import Any

import psutil
import redis
from django.conf import settings
from rest_framework import serializers

from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter
from cluster_app.models import Job


class PingParams(serializers.Serializer):
    # At most 20 rounds 2 s apart: one ping holds a worker slot for under a minute.
    count = serializers.IntegerField(min_value=1, max_value=20, default=5)
    interval = serializers.FloatField(min_value=0.0, max_value=2.0, default=1.0)

    class Meta:
        ref_name = "PingParams"


def host_facts() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(settings.VAR_DIR))
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "ram_total_bytes": memory.total,
        "ram_available_bytes": memory.available,
        "disk_total_bytes": disk.total,
        "disk_free_bytes": disk.free,
        "worker_pid": os.getpid(),
    }


def run_ping(job: Job, reporter: JobReporter) -> dict[str, Any]:
    params = PingParams(data=job.params)
    params.is_valid(raise_exception=True)
    count, interval = params.validated_data["count"], params.validated_data["interval"]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # A resumed ping keeps the rounds it already did.
    rtts: list[float] = list((job.result or {}).get("rtt_ms", []))
    reporter.progress(len(rtts), count, unit="rounds",
                      message=f"Pinging from {socket.gethostname()}")
    for round_no in range(len(rtts) + 1, count + 1):
        started = time.perf_counter()
        broker.ping()
        rtts.append(round((time.perf_counter() - started) * 1000, 3))
        job.result = {"rtt_ms": rtts}
        Job.objects.filter(pk=job.pk).update(result=job.result)
        reporter.log(f"round {round_no}/{count}: broker rtt {rtts[-1]} ms")
        reporter.progress(round_no, message=f"Round {round_no} of {count}")
        if round_no < count:
            _sleep_checking(reporter, interval)
    return {
        **host_facts(),
        "rtt_ms": rtts,
        "rtt_min_ms": min(rtts),
        "rtt_avg_ms": round(statistics.fmean(rtts), 3),
        "rtt_max_ms": max(rtts),
    }


def _sleep_checking(reporter: JobReporter, seconds: float) -> None:
    """Sleep, but notice a cancel or pause as the reporter polls for it (about once a second)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
        reporter.check()


PING = JobKind(name="ping", label="Ping", run=run_ping, pausable=True, params=PingParams,
               max_active_per_user=2)
