"""Job websockets, and the base of every websocket: the current state first, then live
events (the cluster's is in nodes/consumers.py, the logs' in logs/consumers.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from redis import RedisError

from cluster_app.jobs import events
from cluster_app.jobs.feeds import feeds
from cluster_app.jobs.reporter import job_payload
from cluster_app.jobs.revocation import credential_groups, still_valid
from cluster_app.jobs.socket_limits import Outbox, SharedTexts, SocketCount
from cluster_app.models import Job

logger = logging.getLogger(__name__)

# Close codes, also read by static/js/live.js.
CLOSE_TRY_AGAIN = 1013  # Redis (the channel layer) went away: reconnect for the current state
CLOSE_TOO_SLOW = 4008  # the client did not read: reconnect for the current state
CLOSE_BAD_MESSAGE = 4400  # the client sent something other than a JSON object
CLOSE_UNAUTHENTICATED = 4401  # no login, or its token or session was revoked
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429  # the user has WS_MAX_SOCKETS_PER_USER sockets open already
# A client that reads nothing cannot take a close frame either: it is given up on after this.
CLOSE_TIMEOUT_SECONDS = 30.0
SNAPSHOT_JOBS = 30

open_sockets = SocketCount()  # per user, in this web process
shared_texts = SharedTexts()


class AuthenticatedConsumer(AsyncWebsocketConsumer):
    """Closes anonymous sockets before accepting; subclasses name the group and snapshot.

    Everything sent goes through a bounded outbox that one writer task drains: a client that
    stops reading is dropped (CLOSE_TOO_SLOW) instead of growing the process. Each socket
    also joins the groups that revoke its credential (revocation.py).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = Outbox(settings.WS_OUTBOX_BYTES)
        self.joined: list[str] = []
        self.writer: asyncio.Task[None] | None = None
        self.expiry: asyncio.Task[None] | None = None
        self.counted: Any = None  # the user whose socket count this socket is in

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except RedisError as exc:
            # Its events come through Redis, which went away (a restart, say): closed, not left
            # silent, so the client reconnects and gets the current state once Redis is back.
            logger.warning("websocket closed: Redis did not answer (%s)", exc)
            with contextlib.suppress(OSError, RuntimeError):
                if self.writer is None:  # still in its handshake
                    await self.accept()
                await self.close(code=CLOSE_TRY_AGAIN)
        finally:
            # However the socket ended: a disconnect, a drop, an error, the server stopping.
            for task in (self.writer, self.expiry):
                if task is not None:
                    task.cancel()
            if self.counted is not None:
                open_sockets.give_back(self.counted)
            with contextlib.suppress(RedisError):
                await self.leave_groups()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            if self.scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME):
                # A browser whose login ended (a logout in another tab, an expiry) while its
                # socket reconnected: told so, the page goes to the login page instead of
                # knocking for ever at a refused handshake.
                await self.accept()
            await self.drop(CLOSE_UNAUTHENTICATED)
        if not open_sockets.take(user.pk, settings.WS_MAX_SOCKETS_PER_USER):
            # Accepted, then closed: a browser shown a refused handshake cannot tell why.
            await self.accept()
            await self.drop(CLOSE_TOO_MANY)
        self.counted = user.pk
        # Join first, then check and read: a revocation or event between them is not lost.
        await self.join([*credential_groups(self.scope), self.group_name(),
                         *self.feed_groups()])
        if not await still_valid(self.scope):
            await self.drop(CLOSE_UNAUTHENTICATED)
        snapshot = await database_sync_to_async(self.snapshot)()
        if snapshot is None:
            await self.drop(CLOSE_NOT_FOUND)
        await self.accept()
        self.writer = asyncio.create_task(self.write())
        if expires_at := self.scope.get("api_token_expires_at"):
            self.expiry = asyncio.create_task(self.revoke_at(expires_at))
        await self.queue(json.dumps(snapshot))
        for frame in await database_sync_to_async(self.feed_frames)():
            await self.queue(json.dumps(frame))

    async def revoke_at(self, moment: datetime) -> None:
        """Close when the socket's API key expires: no signal says so, as none is saved."""
        await asyncio.sleep(max(0.0, (moment - timezone.now()).total_seconds()))
        # Through the consumer's own channel, so the close runs in its message loop.
        await self.channel_layer.send(self.channel_name, {"type": "auth.revoke"})

    async def receive(self, text_data: str | None = None,
                      bytes_data: bytes | None = None) -> None:
        # Clients have nothing to say yet; anything but a JSON object is a broken client.
        try:
            content = json.loads(text_data) if text_data is not None else None
        except (ValueError, RecursionError):
            content = None
        if not isinstance(content, dict):
            await self.drop(CLOSE_BAD_MESSAGE)

    async def queue(self, text: str) -> None:
        """Hand a message to the writer, or drop a client too slow to take it."""
        if not self.outbox.put(text):
            await self.drop(CLOSE_TOO_SLOW)

    async def relay(self, event: dict[str, Any], message: dict[str, Any]) -> None:
        """Queue `message`, made from the group `event` (and encoded once per event)."""
        await self.queue(shared_texts.text(event, message))

    async def write(self) -> None:
        while True:
            text = await self.outbox.next()
            try:
                await self.send(text_data=text)
            except (OSError, RuntimeError):
                # The client is gone, or the server closed the socket itself (its keepalive
                # ping went unanswered): the disconnect that follows ends the consumer.
                return
            self.outbox.written(text)

    async def drop(self, code: int) -> NoReturn:
        """Stop sending, free the outbox, leave the groups, close with `code`, and stop."""
        if self.writer is not None:
            self.writer.cancel()
        self.outbox.clear()
        await self.leave_groups()
        # Gone already (OSError), or closed by the server's keepalive (RuntimeError).
        with contextlib.suppress(TimeoutError, OSError, RuntimeError):
            await asyncio.wait_for(self.close(code=code), CLOSE_TIMEOUT_SECONDS)
        raise StopConsumer

    async def join(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)

    async def leave_groups(self) -> None:
        joined, self.joined = self.joined, []
        for group in joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def auth_revoke(self, event: dict[str, Any]) -> None:
        await self.drop(CLOSE_UNAUTHENTICATED)

    def group_name(self) -> str:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def feed_groups(self) -> list[str]:
        """The groups of the feeds this socket carries besides its own (feeds.py)."""
        return []

    def feed_frames(self) -> list[dict[str, Any]]:
        """Their current frames, sent after the snapshot."""
        return []

    async def feed_frame(self, event: dict[str, Any]) -> None:
        await self.relay(event, event["frame"])

    async def job_update(self, event: dict[str, Any]) -> None:
        await self.relay(event, {"type": "job", "job": event["job"]})


class JobsConsumer(AuthenticatedConsumer):
    """The page's one jobs socket. Opened with `?feeds=1` (pages do) it also carries the
    registered feeds (the alert bell); scripts get the jobs alone, as before feeds."""

    def group_name(self) -> str:
        return events.JOBS_GROUP

    def _with_feeds(self) -> bool:
        return parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(
            "feeds") == ["1"]

    def feed_groups(self) -> list[str]:
        return [feed.group for feed in feeds()] if self._with_feeds() else []

    def feed_frames(self) -> list[dict[str, Any]]:
        return [feed.current() for feed in feeds()] if self._with_feeds() else []

    def snapshot(self) -> dict[str, Any]:
        recent = Job.objects.select_related("node", "created_by")[:SNAPSHOT_JOBS]
        return {"type": "snapshot", "jobs": [job_payload(job) for job in recent]}


class JobConsumer(AuthenticatedConsumer):
    def group_name(self) -> str:
        return events.job_group(self.scope["url_route"]["kwargs"]["job_id"])

    def snapshot(self) -> dict[str, Any] | None:
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        job = Job.objects.select_related("node", "created_by").filter(pk=job_id).first()
        return None if job is None else {"type": "snapshot", "job": job_payload(job)}
