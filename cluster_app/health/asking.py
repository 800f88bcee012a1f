"""Asking each node's worker something and gathering the answers: a task sent by name to the
node's control queue, each answer pushed to a Redis list the asker waits on. Health runs ask
for each node's checks this way, the doctor for its version, clock and models directory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from arthur_panel.celery import app as celery_app
from arthur_panel.redis_client import redis_client
from cluster_app.models import Node

# Answers wait this long for an asker that has gone away.
REPLY_TTL = 600


def send(task: str, node: Node, args: list[Any], *, timeout: float) -> None:
    """Ask `node`'s control worker to run `task` with `args`."""
    # Unread after the timeout, the question is dropped: a worker that comes back later must
    # not answer an asker that already gave up on it.
    celery_app.send_task(task, args=args, queue=node.control_queue, expires=timeout)


def reply(reply_key: str, answer: dict[str, Any]) -> None:
    """On the node: push `answer` (with its `node`) to the asker waiting on `reply_key`."""
    connection = redis_client()
    connection.rpush(reply_key, json.dumps(answer))
    connection.expire(reply_key, REPLY_TTL)


def answers(reply_key: str, waiting: set[str], timeout: float,
            idle: Callable[[], None] | None = None) -> Iterator[dict[str, Any]]:
    """Each answer from a node in `waiting` as it comes, for at most `timeout` seconds; the
    names left in `waiting` at the end did not answer. `idle` runs each second without one."""
    connection = redis_client()
    deadline = time.monotonic() + timeout
    try:
        while waiting and (left := deadline - time.monotonic()) > 0:
            popped = connection.blpop([reply_key], timeout=min(left, 1.0))
            if popped is None:
                if idle is not None:
                    idle()
                continue
            answer = json.loads(popped[1])
            if answer.get("node") in waiting:
                waiting.discard(answer["node"])
                yield answer
    finally:
        connection.delete(reply_key)
