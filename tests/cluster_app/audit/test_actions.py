"""Every state-changing action writes one audit entry: who (user, token), from which address,
what (action, target, parameters) and the outcome; refusals too."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from cluster_app.models import ApiToken, AuditEntry, Job, Node
from models_app.models import CloudPrice, LlmModel, RouteRule

pytestmark = pytest.mark.django_db
ADDRESS = "127.0.0.1"  # the test client's REMOTE_ADDR


@pytest.fixture(autouse=True)
def no_enqueue(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        yield



@pytest.fixture
def admin_client(alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client()
    client.force_login(alice)
    return client


def only_entry(**lookup) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(**lookup)
    return entry


def assert_by(entry: AuditEntry, username: str, outcome: str = "ok") -> None:
    assert (entry.username, entry.address, entry.outcome) == (username, ADDRESS, outcome)
    assert entry.user is not None and entry.user.get_username() == username


@pytest.mark.parametrize(("path", "action", "target"), [
    ("/api/v1/cluster/start/", "cluster.start", "cluster"),
    ("/api/v1/cluster/stop/", "cluster.stop", "cluster"),
    ("/api/v1/cluster/restart/", "cluster.restart", "cluster"),
    ("/api/v1/nodes/alpha/start/", "exo.start", "alpha"),
    ("/api/v1/nodes/beta/stop/", "exo.stop", "beta"),
])
def test_cluster_and_node_operations_are_recorded(api_client, nodes, path, action, target):
    Node.objects.filter(name="beta").update(exo_start_command=["exo"])  # so it may start
    response = api_client.post(path)
    assert response.status_code == 202, response.content
    entry = only_entry(action=action)
    assert_by(entry, "alice")
    assert entry.target == target and entry.params["job"] == response.json()["id"]


def test_a_refused_stop_is_recorded_with_its_reason(bob, nodes):
    viewer = APIClient()
    viewer.force_login(bob)
    response = viewer.post("/api/v1/cluster/stop/")
    assert response.status_code == 403
    entry = only_entry(action="api-cluster-stop")
    assert_by(entry, "bob", "refused")
    assert entry.target == "/api/v1/cluster/stop/"
    assert entry.message.startswith("403: ") and "operate_exo" in entry.message
    assert not Job.objects.exists()


def test_an_action_by_token_names_the_token(nodes, operator_token):
    client = APIClient()
    response = client.post("/api/v1/cluster/stop/",
                           HTTP_AUTHORIZATION=f"Bearer {operator_token}")
    assert response.status_code == 202
    entry = only_entry(action="cluster.stop")
    token = ApiToken.objects.get_for_secret(operator_token)
    assert token is not None
    assert (entry.token_id, entry.token_hint) == (token.pk, token.hint)
    assert_by(entry, "alice")


def test_downloads_started_controlled_and_deleted_are_recorded(api_client, nodes):
    response = api_client.post("/api/v1/models/llama-3.2-1b/download/", {"node": "alpha"},
                               format="json")
    (job,) = response.json()["jobs"]
    entry = only_entry(action="model.download")
    assert_by(entry, "alice")
    assert entry.target == "alpha"
    assert entry.params["repo_id"] == "mlx-community/Llama-3.2-1B-Instruct-4bit"
    for verb in ("pause", "resume", "cancel"):
        assert api_client.post(f"/api/v1/jobs/{job['id']}/{verb}/").status_code == 200
        entry = only_entry(action=f"model.download.{verb}")
        assert_by(entry, "alice")
        assert entry.params == {"job": job["id"]}
    response = api_client.delete("/api/v1/models/llama-3.2-1b/download/", {"node": "alpha"},
                                 format="json")
    assert response.status_code == 202
    assert_by(only_entry(action=response.json()["kind"]), "alice")


def test_a_conflicting_control_is_recorded_as_refused(api_client, nodes):
    job = Job.objects.create(kind="ping", node=Node.objects.get(name="alpha"),
                             state=Job.State.SUCCEEDED)
    response = api_client.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert response.status_code == 409
    entry = only_entry(action="ping.cancel")
    assert_by(entry, "alice", "refused")
    assert "nothing to cancel" in entry.message


def test_too_many_jobs_is_recorded_as_refused(api_client, nodes, settings):
    settings.JOB_MAX_ACTIVE_PER_USER = 1
    body = {"kind": "ping", "node": "alpha", "params": {"count": 1}}
    assert api_client.post("/api/v1/jobs/", body, format="json").status_code == 201
    body["node"] = "beta"
    assert api_client.post("/api/v1/jobs/", body, format="json").status_code == 429
    ok, refused = AuditEntry.objects.filter(action="ping").order_by("id")
    assert ok.outcome == "ok" and refused.outcome == "refused"
    assert refused.target == "beta" and "JOB_MAX_ACTIVE_PER_USER" in refused.message


def test_loads_and_unloads_are_recorded(api_client, nodes, exo_url):
    response = api_client.post("/api/v1/instances/", {"model": "llama-3.2-1b"}, format="json")
    assert response.status_code == 202, response.content
    entry = only_entry(action="instance.load")
    assert_by(entry, "alice")
    assert entry.params["model_id"] == "mlx-community/Llama-3.2-1B-Instruct-4bit"
    instance_id = str(uuid.uuid4())
    response = api_client.post("/api/v1/jobs/", {"kind": "instance.unload", "params": {
        "instance_id": instance_id}}, format="json")
    assert response.status_code == 201, response.content
    assert only_entry(action="instance.unload").params["instance_id"] == instance_id


def test_catalogue_edits_and_deletions_are_recorded(api_client):
    response = api_client.patch("/api/v1/models/llama-3.2-1b/", {"notes": "fast"},
                                format="json")
    assert response.status_code == 200
    entry = only_entry(action="catalogue.edit")
    assert_by(entry, "alice")
    assert (entry.target, entry.params) == ("llama-3.2-1b", {"notes": "fast"})
    assert api_client.delete("/api/v1/models/llama-3.2-1b/").status_code == 204
    assert only_entry(action="catalogue.delete").target == "llama-3.2-1b"


def test_adding_a_model_twice_is_refused_and_recorded(api_client, hub):
    model = LlmModel.objects.get(slug="llama-3.2-1b")
    response = api_client.post("/api/v1/models/", {"repo_id": model.repo_id}, format="json")
    assert response.status_code == 409
    entry = only_entry(action="catalogue.add")
    assert_by(entry, "alice", "refused")
    assert "already in the catalogue" in entry.message


def test_adding_a_model_from_the_hub_is_recorded(api_client, hub):
    response = api_client.post("/api/v1/models/",
                               {"repo_id": "sim-org/wide-4bit"}, format="json")
    assert response.status_code == 201, response.content
    entry = only_entry(action="catalogue.add")
    assert_by(entry, "alice")
    assert entry.target == response.json()["slug"]


def test_admin_changes_are_recorded(admin_client, nodes):
    node = Node.objects.get(name="beta")
    page = admin_client.get(f"/admin/cluster_app/node/{node.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data |= {"display_name": "BETA-2", "links": "[]"}
    data = {key: ("[]" if isinstance(value, list) else value) for key, value in data.items()}
    response = admin_client.post(f"/admin/cluster_app/node/{node.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = only_entry(action="admin.change")
    assert_by(entry, "alice")
    assert entry.target == f"cluster_app.node {node.pk}"
    assert "Display name" in entry.params["changes"][0]["changed"]["fields"]


@pytest.mark.parametrize(("model", "path"), [
    (RouteRule, "/admin/models_app/routerule/{pk}/change/"),
    (CloudPrice, "/admin/models_app/cloudprice/{pk}/delete/"),
])
def test_router_rules_and_prices_changed_in_the_admin_are_recorded(admin_client, model, path):
    row = model.objects.first()
    if model is RouteRule:  # its name routes protect it: edit it instead
        page = admin_client.get(path.format(pk=row.pk)).context["adminform"].form
        data = {**page.initial, "description": "changed", "slugs": '["llama-3.2-1b"]'}
        response = admin_client.post(path.format(pk=row.pk), data)
    else:
        response = admin_client.post(path.format(pk=row.pk), {"post": "yes"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = only_entry(action__startswith="admin.")
    assert entry.target == f"models_app.{model._meta.model_name} {row.pk}"
    assert_by(entry, "alice")


def test_users_and_groups_changed_in_the_admin_are_recorded(admin_client, bob):
    response = admin_client.post("/admin/auth/group/add/", {"name": "viewers"})
    assert response.status_code == 302
    group = Group.objects.get(name="viewers")
    assert only_entry(action="admin.add").target == f"auth.group {group.pk}"
    response = admin_client.post(f"/admin/auth/user/{bob.pk}/password/", {
        "password1": "a-long-new-passphrase", "password2": "a-long-new-passphrase"})
    assert response.status_code == 302
    entry = only_entry(action="admin.change", target=f"auth.user {bob.pk}")
    assert "password1" not in str(entry.params) or "a-long" not in str(entry.params)


def test_tokens_issued_and_deleted_are_recorded(alice):
    token, secret = ApiToken.issue(user=alice, name="ci")
    issued = only_entry(action="token.create")
    assert issued.target == f"token {token.hint}… of alice"
    assert issued.params == {"id": str(token.pk), "name": "ci"}
    assert secret not in str(issued.params) + issued.target
    token_id = str(token.pk)
    token.delete()
    assert only_entry(action="token.delete").params["id"] == token_id


def test_logins_failures_and_logouts_are_recorded(alice):
    client = Client()
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    failed = only_entry(action="login.failed")
    assert (failed.target, failed.outcome, failed.address) == ("alice", "refused", ADDRESS)
    assert failed.user is None and "alice-password" not in str(failed.params)
    assert client.post("/login/", {"username": "alice",
                                   "password": "alice-password-1"}).status_code == 302
    assert_by(only_entry(action="login"), "alice")
    client.post("/logout/")
    assert_by(only_entry(action="logout"), "alice")


def test_a_locked_out_login_says_so(alice, settings):
    settings.AXES_FAILURE_LIMIT = 1
    client = Client()
    client.post("/login/", {"username": "alice", "password": "wrong"})
    assert client.post("/login/", {"username": "alice",
                                   "password": "wrong"}).status_code == 429
    last = AuditEntry.objects.filter(action="login.failed").first()
    assert last is not None and "Locked out" in last.message
    assert not AuditEntry.objects.exclude(action="login.failed").exists()
