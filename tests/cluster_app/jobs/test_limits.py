"""How many jobs one user may have: per kind and overall, never more under a race."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from cluster_app.jobs import services
from cluster_app.models import Job
from models_app.downloads.jobs import MAX_DOWNLOADS_PER_USER
from models_app.models import LlmModel

pytestmark = pytest.mark.django_db
PING = {"kind": "ping", "node": "alpha"}
PING_LIMIT = "You already have 2 ping jobs queued or running; wait for one to finish or cancel it."


def error_of(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "code"}, body
    return body["error"]


def ping(node, user, **fields):
    return services.job_create(kind="ping", node=node, params={}, user=user, enqueue=False,
                               **fields)


def test_a_third_ping_is_refused_with_the_limit_and_what_to_do(nodes, alice):
    for _ in range(2):
        ping(nodes["alpha"], alice)
    with pytest.raises(services.TooManyJobs, match=PING_LIMIT) as refused:
        ping(nodes["beta"], alice)
    assert (refused.value.status_code, refused.value.code) == (429, "too_many_jobs")
    assert Job.objects.count() == 2


def test_a_finished_or_cancelled_job_frees_its_place(nodes, alice):
    first, _ = ping(nodes["alpha"], alice)
    second, _ = ping(nodes["alpha"], alice)
    Job.objects.filter(pk=first.pk).update(state=Job.State.SUCCEEDED)
    services.job_cancel(job=second)
    for _ in range(2):
        ping(nodes["alpha"], alice)
    assert Job.objects.filter(state__in=Job.ACTIVE).count() == 2


def test_paused_jobs_count_as_active(nodes, alice):
    for _ in range(2):
        services.job_pause(job=ping(nodes["alpha"], alice)[0])
    with pytest.raises(services.TooManyJobs):
        ping(nodes["alpha"], alice)


def test_the_limits_are_per_user(nodes, alice, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="bob-password-1")
    for user in (alice, alice, bob, bob):
        ping(nodes["alpha"], user)
    assert Job.objects.filter(created_by=bob).count() == 2


def test_the_systems_own_jobs_are_not_capped(nodes):
    for _ in range(5):
        ping(nodes["alpha"], None)
    assert Job.objects.count() == 5


def test_every_user_has_an_overall_cap(nodes, alice, settings):
    settings.JOB_MAX_ACTIVE_PER_USER = 3
    services.job_create(kind="instance.load", node=None, params={}, user=alice, enqueue=False)
    ping(nodes["alpha"], alice)
    ping(nodes["beta"], alice)
    with pytest.raises(services.TooManyJobs) as refused:
        services.job_create(kind="instance.unload", node=None, params={}, user=alice, enqueue=False)
    assert refused.value.message == (
        "You already have 3 jobs queued or running, the most one user may have "
        "(JOB_MAX_ACTIVE_PER_USER); wait for one to finish or cancel it.")


def test_a_second_click_at_the_limit_still_gets_its_running_job(nodes, alice):
    first, created = ping(nodes["alpha"], alice, dedupe_key="k")
    ping(nodes["alpha"], alice)
    again, created_again = ping(nodes["alpha"], alice, dedupe_key="k")
    assert created and not created_again and again.pk == first.pk


def test_a_user_may_download_the_guides_recommended_set_on_both_exo_nodes(nodes, guide_models,
                                                                           alice):
    recommended = LlmModel.objects.exclude(tier=LlmModel.Tier.NOT_RECOMMENDED)
    exo_nodes = [node for node in nodes.values() if node.in_exo_cluster]
    assert recommended.count() * len(exo_nodes) <= MAX_DOWNLOADS_PER_USER
    for model in recommended:
        for node in exo_nodes:
            services.job_create(kind="model.download", node=node, params={"repo_id": model.repo_id},
                            user=alice, enqueue=False, dedupe_key=f"{model.repo_id}@{node.name}")
    assert Job.objects.filter(kind="model.download").count() == recommended.count() * 2


@pytest.mark.django_db(transaction=True)
def test_racing_creates_never_pass_the_cap(nodes, alice):
    racers = 8
    start = threading.Barrier(racers)
    outcomes: list[str] = []

    def create() -> None:
        try:
            start.wait(timeout=30)
            ping(nodes["alpha"], alice)
            outcomes.append("created")
        except services.TooManyJobs:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * (racers - 2)
    assert Job.objects.filter(created_by=alice, state__in=Job.ACTIVE).count() == 2


# --- through the API ---------------------------------------------------------------------------

def test_the_api_answers_429_json_past_a_limit(api_client, nodes):
    for _ in range(2):
        response = api_client.post("/api/v1/jobs/", PING, format="json")
        assert response.status_code == 201
    response = api_client.post("/api/v1/jobs/", PING, format="json")
    assert response.status_code == 429
    assert error_of(response) == {"message": PING_LIMIT, "code": "too_many_jobs"}


@pytest.mark.parametrize(("params", "field"), [({"count": 21}, "count"),
                                               ({"interval": 2.5}, "interval")])
def test_one_ping_cannot_hold_a_worker_for_long(api_client, nodes, params, field):
    response = api_client.post("/api/v1/jobs/", {"kind": "ping", "node": "alpha",
                                                 "params": params}, format="json")
    assert response.status_code == 400 and field in error_of(response)["message"]
