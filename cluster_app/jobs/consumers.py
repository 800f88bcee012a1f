"""Job websockets: the current state first, then live `job.update` events."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from cluster_app.jobs import events
from cluster_app.jobs.reporter import job_payload
from cluster_app.models import Job

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
SNAPSHOT_JOBS = 30


class AuthenticatedConsumer(AsyncJsonWebsocketConsumer):
    """Closes anonymous sockets before accepting; subclasses name the group and snapshot."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Join first, then read the snapshot: an event between the two is sent, not lost.
        self.group = self.group_name()
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await database_sync_to_async(self.snapshot)()
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        await self.send_json(snapshot)

    async def disconnect(self, code: int) -> None:
        if group := getattr(self, "group", None):
            await self.channel_layer.group_discard(group, self.channel_name)

    def group_name(self) -> str:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any] | None:
        raise NotImplementedError

    async def job_update(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "job", "job": event["job"]})


class JobsConsumer(AuthenticatedConsumer):
    def group_name(self) -> str:
        return events.JOBS_GROUP

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
