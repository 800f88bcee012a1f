"""`manage.py follow_logs` as a subprocess next to the live stack, on its database and Redis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from cluster_app.logs import ring
from tests.stack import Stack, start, stop, wait_until


def stack_redis(stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(stack.env["REDIS_URL"])


@contextmanager
def running_follower(stack: Stack, log: Path, *nodes: str,
                     reload_seconds: float = 10.0) -> Iterator[subprocess.Popen[bytes]]:
    """Follow `nodes`; yields once each node's follower has said what it follows."""
    args = [sys.executable, "manage.py", "follow_logs", "--reload-seconds", str(reload_seconds)]
    for node in nodes:
        args += ["--node", node]
    beats = [f"{ring.PREFIX}:follower:{node}" for node in nodes]
    client = stack_redis(stack)
    client.delete(*beats)
    process = start(args, stack.env, log)
    try:
        wait_until(lambda: all(client.mget(beats)) or process.poll() is not None, timeout=30)
        assert process.poll() is None, log.read_text()
        yield process
    finally:
        stop(process)
