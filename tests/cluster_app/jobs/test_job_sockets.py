"""`/ws/jobs/` and `/ws/jobs/<id>/` in-process: the current state first, then every change, and
only to logged-in users."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer

from cluster_app.jobs import events
from cluster_app.jobs.reporter import job_payload
from cluster_app.models import Job
from tests.cluster_app.consumer_testing import snapshot_of, socket
from tests.threads import run_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


def test_the_jobs_socket_sends_the_recent_jobs_then_each_update(layer, nodes, alice_token):
    older = Job.objects.create(kind="ping", node=nodes["alpha"])
    newer = Job.objects.create(kind="ping", node=nodes["beta"], state=Job.State.RUNNING)

    async def scenario() -> None:
        communicator, first = await snapshot_of("/ws/jobs/", alice_token)
        assert first["type"] == "snapshot"
        assert [job["id"] for job in first["jobs"]] == [newer.pk, older.pk]
        await layer.group_send(events.JOBS_GROUP, {"type": "job.update",
                                                   "job": {"id": older.pk, "state": "running"}})
        assert await communicator.receive_json_from(timeout=5) == {
            "type": "job", "job": {"id": older.pk, "state": "running"}}
        await communicator.disconnect()

    run_async(scenario())


def test_a_job_socket_sends_that_job_and_only_its_events(layer, nodes, alice_token):
    job = Job.objects.create(kind="ping", node=nodes["alpha"], message="Round 1 of 5")
    other = Job.objects.create(kind="ping", node=nodes["alpha"])
    expected = job_payload(job)

    async def scenario() -> None:
        communicator, first = await snapshot_of(f"/ws/jobs/{job.pk}/", alice_token)
        assert first == {"type": "snapshot", "job": expected}
        await layer.group_send(events.job_group(other.pk), {"type": "job.update",
                                                            "job": {"id": other.pk}})
        assert await communicator.receive_nothing(timeout=0.2)
        await layer.group_send(events.job_group(job.pk), {"type": "job.update",
                                                          "job": {"id": job.pk}})
        assert (await communicator.receive_json_from(timeout=5))["job"] == {"id": job.pk}
        await communicator.disconnect()

    run_async(scenario())


def test_an_unknown_job_closes_with_4404(layer, alice_token):
    async def scenario() -> None:
        connected, code = await socket("/ws/jobs/999999/", alice_token).connect(timeout=5)
        assert (connected, code) == (False, 4404)

    run_async(scenario())


@pytest.mark.parametrize("path", ["/ws/jobs/", "/ws/cluster/", "/ws/logs/"])
@pytest.mark.parametrize("token", [None, "arthur_not-a-token"])
def test_a_socket_without_a_login_is_closed_before_it_opens(layer, nodes, path, token):
    async def scenario() -> None:
        connected, code = await socket(path, token).connect(timeout=5)
        assert (connected, code) == (False, 4401)
        assert not any(layer.groups.values())

    run_async(scenario())
