"""Worker heartbeats: every few seconds each Celery worker says which nodes' queues it serves,
so the panel can tell a node whose worker is gone (killed, its Mac asleep) from one whose worker
is only busy, and say so on the node and on the jobs that wait for it.

The beats sit in one Redis hash (`arthur:workers`, a field per node and lane), stamped by the
Redis server's clock and judged by it too: the machines' clocks need not agree. Nothing here
runs in the worker's pool, so a worker with every slot busy still beats.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from arthur_panel.celery import Lane
from arthur_panel.redis_client import redis_client

logger = logging.getLogger(__name__)

KEY = "arthur:workers"


@dataclass(frozen=True)
class WorkerSeen:
    """The latest beat of a node's worker of one lane."""

    online: bool
    seen_at: float  # Unix time, by the Redis server's clock
    host: str
    pid: int

    def as_dict(self) -> dict[str, Any]:
        return {"online": self.online, "seen_at": self.seen_at, "host": self.host,
                "pid": self.pid}


def served(queues: Iterable[str]) -> list[tuple[str, Lane]]:
    """The (node, lane) pairs whose queues are among `queues`: `node.beta` is BETA's bulk lane,
    `node.beta.control` its control lane."""
    lanes = {"": Lane.BULK, Lane.CONTROL.value: Lane.CONTROL}
    pairs = []
    for queue in queues:
        prefix, _, rest = queue.partition(".")
        name, _, lane = rest.partition(".")
        if prefix == "node" and name and lane in lanes:
            pairs.append((name, lanes[lane]))
    return pairs


def _field(node: str, lane: Lane) -> str:
    return f"{node}:{lane.value}"


def _server_time(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def beat(pairs: list[tuple[str, Lane]], *, host: str, pid: int) -> None:
    """Say that this worker (`host`, `pid`) serves `pairs`, now."""
    if not pairs:
        return
    client = redis_client()
    value = json.dumps({"at": _server_time(client), "host": host, "pid": pid})
    client.hset(KEY, mapping={_field(node, lane): value for node, lane in pairs})


def forget(pairs: list[tuple[str, Lane]], *, pid: int) -> None:
    """This worker stops: drop its beats (not another worker's that took over a field)."""
    client = redis_client()
    for (node, lane), raw in zip(pairs, client.hmget(KEY, [_field(n, lane) for n, lane in pairs]),
                                 strict=True):
        if raw and json.loads(raw)["pid"] == pid:
            client.hdel(KEY, _field(node, lane))


def workers_seen() -> dict[str, dict[str, WorkerSeen]]:
    """node -> lane (`default`, `control`) -> its worker's latest beat, for every node a worker
    ever served; `online` when that beat is at most WORKER_OFFLINE_SECONDS old."""
    client = redis_client()
    with client.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.hgetall(KEY)
        (seconds, micros), beats = pipe.execute()
    now = seconds + micros / 1e6
    seen: dict[str, dict[str, WorkerSeen]] = {}
    for field, raw in beats.items():
        node, _, lane = (field.decode() if isinstance(field, bytes) else field).partition(":")
        value = json.loads(raw)
        seen.setdefault(node, {})[lane] = WorkerSeen(
            online=now - value["at"] <= settings.WORKER_OFFLINE_SECONDS, seen_at=value["at"],
            host=value["host"], pid=value["pid"])
    return seen


def worker_online(node: str, lane: Lane, seen: dict[str, dict[str, WorkerSeen]] | None = None
                  ) -> bool:
    """Whether a worker serves `node`'s queue of `lane` now (by `seen`, else read afresh)."""
    latest = (workers_seen() if seen is None else seen).get(node, {}).get(lane.value)
    return latest is not None and latest.online


def waiting_message(display_name: str) -> str:
    return (f"Waiting for {display_name}'s worker: none has answered for "
            f"{settings.WORKER_OFFLINE_SECONDS} s; the job runs when it is back")


class Heartbeat:
    """The beating thread of one worker process."""

    def __init__(self, pairs: list[tuple[str, Lane]], host: str) -> None:
        self.pairs, self.host, self.pid = pairs, host, os.getpid()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        # The first beat before the worker says it is ready: the panel sees it at once.
        self._beat()
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(settings.WORKER_OFFLINE_SECONDS / 3):
            self._beat()

    def _beat(self) -> None:
        try:
            beat(self.pairs, host=self.host, pid=self.pid)
        except (redis.RedisError, OSError) as exc:
            # Redis away: the worker cannot take jobs either; beat again next time.
            logger.warning("worker heartbeat not sent: %s", exc)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        try:
            forget(self.pairs, pid=self.pid)
        except (redis.RedisError, OSError) as exc:
            logger.warning("worker heartbeat not withdrawn: %s", exc)


# Connected on import: every worker imports this module (the job services use it).
_running: list[Heartbeat] = []


@worker_ready.connect
def _start_heartbeat(sender: Any, **kwargs: Any) -> None:
    pairs = served(sender.app.amqp.queues.consume_from)
    if pairs:
        heartbeat = Heartbeat(pairs, str(sender.hostname))
        heartbeat.start()
        _running.append(heartbeat)


@worker_shutdown.connect
def _stop_heartbeat(sender: Any, **kwargs: Any) -> None:
    while _running:
        _running.pop().close()
