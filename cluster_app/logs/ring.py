"""Recent log lines in Redis: per node a bounded list of line records (oldest first), the
sequence counter that numbers them, each followed file's read position, and a heartbeat of
the follower that feeds them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from redis.typing import EncodableT, FieldT

from arthur_panel.redis_client import redis_client

PREFIX = "arthur:logs"
KEEP_LINES = 5000  # per node; `follow_logs --keep` changes it


def _key(kind: str, node: str) -> str:
    return f"{PREFIX}:{kind}:{node}"


def ring_push(node: str, records: list[dict[str, Any]], *, keep: int,
              positions: dict[str, str]) -> None:
    """Number `records` (their `seq`), append them to the node's ring, trim it to `keep` lines
    and save the read positions (path -> "inode:offset") the records end at, together."""
    client = redis_client()
    last = client.incrby(_key("seq", node), len(records))
    for seq, record in enumerate(records, start=last - len(records) + 1):
        record["seq"] = seq
    pipe = client.pipeline(transaction=True)
    pipe.rpush(_key("lines", node), *(json.dumps(r, separators=(",", ":")) for r in records))
    pipe.ltrim(_key("lines", node), -keep, -1)
    if positions:
        # Only read: redis-py's Mapping type is keyed by any encodable type, and keys are
        # invariant.
        pipe.hset(_key("positions", node), mapping=cast(Mapping[FieldT, EncodableT], positions))
    pipe.execute()


def saved_positions(node: str) -> dict[str, tuple[int, int]]:
    """Where the last follower of `node` stopped in each file: path -> (inode, offset)."""
    saved = redis_client().hgetall(_key("positions", node))
    positions = {}
    for path, value in saved.items():
        inode, _, offset = _text(value).partition(":")
        if inode.isdigit() and offset.isdigit():
            positions[_text(path)] = (int(inode), int(offset))
    return positions


def _text(reply: bytes | str) -> str:
    """A Redis reply as text: the panel's client answers bytes (it does not decode)."""
    return reply.decode() if isinstance(reply, bytes) else reply


def line_matches(record: dict[str, Any], *, kind: str | None, query: str | None) -> bool:
    """`kind`: one of the line's classes; `query`: lower-case text found in its text or source."""
    if kind and kind not in record["classes"]:
        return False
    if query:
        return query in record["text"].lower() or query in (record["source"] or "").lower()
    return True


def recent_lines(nodes: list[str], *, limit: int, kind: str | None = None,
                 query: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` lines of `nodes` that match, oldest first."""
    filtering = bool(kind or query)
    query = query.lower() if query else None
    pipe = redis_client().pipeline(transaction=False)
    for node in nodes:
        # Unfiltered, each node's newest `limit` are enough; filtered, its whole ring is read.
        pipe.lrange(_key("lines", node), 0 if filtering else -limit, -1)
    found = [record for ring in pipe.execute() for record in map(json.loads, ring)
             if not filtering or line_matches(record, kind=kind, query=query)]
    found.sort(key=lambda r: (r["ts"], r["node"], r["seq"]))
    return found[-limit:] if limit else []


def follower_beat(node: str, status: dict[str, Any], *, ttl: float) -> None:
    """Say that a follower runs for `node`, and what it follows, for `ttl` seconds."""
    redis_client().set(_key("follower", node), json.dumps(status), px=int(ttl * 1000))


def followers(nodes: list[str]) -> dict[str, dict[str, Any] | None]:
    """The running follower of each node, as its last heartbeat says, or None."""
    if not nodes:
        return {}
    beats = redis_client().mget([_key("follower", node) for node in nodes])
    return {node: json.loads(beat) if beat else None
            for node, beat in zip(nodes, beats, strict=True)}
