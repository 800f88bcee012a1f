"""What the broker holds of the jobs' messages, read through kombu's own Redis channel (its key
names, prefix and priority queues as the workers use them).

A job's lease covers it once a worker has claimed it. Before that, two ways to lose it: a worker
that takes a message and dies before it starts the job (its message waits, unacknowledged, for
the visibility timeout: 12 hours, as downloads run for hours), and a message that is in no queue
at all (taken by a worker killed between Redis's answer and kombu's note of it, or acknowledged
by a run that failed before its claim, the database being away). `held` tells which jobs' messages
are still on their way; kombu's `restore_by_tag` puts a stranded delivery back in its queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import redis

from arthur_panel.celery import app as celery_app


@dataclass(frozen=True)
class Holdings:
    """The task ids of the messages in the queues read, and of those workers took: the
    deliveries taken before the cut-off (a live worker starts what it takes at once) by tag."""

    queued: frozenset[str]
    taken: frozenset[str]
    stranded: dict[str, str]  # task id: delivery tag


def task_id(payload: bytes | str | None) -> str | None:
    """The task id in a message as kombu stores it: the message alone in a queue, or
    `[message, exchange, routing key]` for a delivery not yet acknowledged."""
    if payload is None:
        return None
    try:
        message: Any = json.loads(payload)
    except ValueError:
        return None
    if isinstance(message, list) and message:
        message = message[0]
    headers = message.get("headers") if isinstance(message, dict) else None
    found = headers.get("id") if isinstance(headers, dict) else None
    return found if isinstance(found, str) else None


@contextmanager
def channel() -> Iterator[Any]:
    """A kombu channel on the broker, as the workers configure theirs."""
    with celery_app.connection_for_write() as connection:
        yield connection.default_channel


def held(broker: Any, queues: Iterable[str], *, taken_before: float) -> Holdings:
    """What `broker` (a channel) holds of messages in `queues`, and of deliveries to workers;
    those taken before `taken_before` (a time.time()) are stranded."""
    # The channel's own client prefixes only the commands kombu sends: this one, on the same
    # connections, is given whole key names.
    client = redis.Redis(connection_pool=broker.client.connection_pool)
    prefix = broker.global_keyprefix
    queued = {found for queue in queues for priority in broker.priority_steps
              for payload in client.lrange(prefix + broker._q_for_pri(queue, priority), 0, -1)
              if (found := task_id(payload)) is not None}
    deliveries: dict[bytes, float] = dict(cast(list[tuple[bytes, float]], client.zrange(
        prefix + broker.unacked_index_key, 0, -1, withscores=True)))
    tags = list(deliveries)
    payloads = client.hmget(prefix + broker.unacked_key, tags) if tags else []
    taken: set[str] = set()
    stranded: dict[str, str] = {}
    for tag, payload in zip(tags, payloads, strict=True):
        if (found := task_id(payload)) is None:
            continue
        taken.add(found)
        if deliveries[tag] < taken_before:
            stranded[found] = tag.decode()
    return Holdings(frozenset(queued), frozenset(taken), stranded)


def restore(broker: Any, tag: str) -> None:
    """Put a stranded delivery back at the head of its queue, as kombu does once its
    visibility timeout has passed."""
    broker.qos.restore_by_tag(tag)
