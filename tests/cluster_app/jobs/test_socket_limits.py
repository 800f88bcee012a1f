"""A socket's outbox and a user's socket count: the accounting, without a server."""

from __future__ import annotations

import asyncio
import json

from cluster_app.jobs.socket_limits import Outbox, SharedTexts, SocketCount
from tests.threads import run_async


def test_the_outbox_takes_messages_up_to_its_limit():
    outbox = Outbox(limit=10)
    assert outbox.put("aaaa") and outbox.put("bbbbbb")
    assert outbox.size == 10
    assert not outbox.put("c")  # one byte too many: refused, nothing queued
    assert outbox.size == 10


def test_an_empty_outbox_takes_any_one_message():
    outbox = Outbox(limit=10)
    assert outbox.put("x" * 100)  # a snapshot larger than the limit still goes out
    assert not outbox.put("y")


def test_a_message_counts_until_it_is_written():
    async def scenario() -> None:
        outbox = Outbox(limit=10)
        outbox.put("aaaa")
        outbox.put("bbbb")
        first = await outbox.next()
        assert first == "aaaa" and outbox.size == 8  # taken, being written: still counted
        assert not outbox.put("ccc")
        outbox.written(first)
        assert outbox.size == 4 and outbox.put("ccc")
        assert [await outbox.next(), await outbox.next()] == ["bbbb", "ccc"]

    run_async(scenario())


def test_next_waits_for_a_message():
    async def scenario() -> None:
        outbox = Outbox(limit=10)
        waiting = asyncio.ensure_future(outbox.next())
        await asyncio.sleep(0)
        assert not waiting.done()
        outbox.put("hello")
        assert await asyncio.wait_for(waiting, 1) == "hello"

    run_async(scenario())


def test_clear_frees_everything():
    outbox = Outbox(limit=10)
    outbox.put("aaaa")
    outbox.clear()
    assert outbox.size == 0 and outbox.put("x" * 10)


def test_socket_count_stops_at_the_limit_per_key():
    count = SocketCount()
    assert count.take("alice", 2) and count.take("alice", 2)
    assert not count.take("alice", 2)
    assert count["alice"] == 2
    assert count.take("bob", 2)  # a limit per user
    count.give_back("alice")
    assert count.take("alice", 2)


def test_socket_count_forgets_a_user_without_sockets():
    count = SocketCount()
    count.take("alice", 1)
    count.give_back("alice")
    assert count["alice"] == 0 and len(count) == 0


def test_an_event_is_encoded_once_for_every_socket():
    texts = SharedTexts(keep=2)
    event = {"type": "logs.lines", "lines": [{"text": "hello"}]}
    first = texts.text(event, {"type": "logs.lines", "lines": event["lines"]})
    again = texts.text(event, {"type": "logs.lines", "lines": event["lines"]})
    assert first is again and json.loads(first)["lines"] == [{"text": "hello"}]


def test_an_equal_but_other_event_is_encoded_anew():
    texts = SharedTexts(keep=2)
    first, second = {"n": 1}, {"n": 1}
    assert texts.text(first, {"m": 1}) is not texts.text(second, {"m": 2})
    assert json.loads(texts.text(second, {"m": 3})) == {"m": 2}  # kept: the same event
