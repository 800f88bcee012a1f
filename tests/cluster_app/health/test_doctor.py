"""The doctor in-process, each check broken on purpose: an unreachable and an unmigrated
database, Redis without a password, a silent worker, a skewed clock and another panel version
in a worker's answer, a read-only models directory, exo and the Hub down; the stored run, the
API, the page and `manage.py doctor`."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from arthur_panel.launcher import free_port, redis_server_binary, wait_for_port
from arthur_panel.version import panel_version
from cluster_app.health import doctor
from cluster_app.health.deployment import FIX_MIGRATE, FIX_VERSIONS
from cluster_app.health.disk import models_dir_facts
from cluster_app.models import HealthResult, Node
from models_app.catalogue.hub import hub_check

pytestmark = pytest.mark.django_db
NOBODY = 65534


def by_key(outcomes: list[Any]) -> dict[tuple[str, str], Any]:
    return {(o.name.removeprefix("doctor."), o.scope): o for o in outcomes}


@pytest.fixture
def answer_here(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Each node's worker answers from this process, through Redis as a worker would; tests
    change what a node says by setting `changes[node] = {key: value}`."""
    changes: dict[str, dict[str, Any]] = {}
    real_answer = doctor.node_answer

    def answer(node: Node) -> dict[str, Any]:
        given = real_answer(node)
        for key, value in changes.get(node.name, {}).items():
            given[key] = value(given[key]) if callable(value) else value
        return given

    def ask(nodes: list[Node], reply_key: str, timeout: float) -> None:
        for node in nodes:
            doctor.doctor_node_reply(node_name=node.name, reply_key=reply_key)

    monkeypatch.setattr(doctor, "node_answer", answer)
    monkeypatch.setattr(doctor, "_ask_nodes", ask)
    return changes


@pytest.fixture
def open_redis() -> Iterator[str]:
    """A Redis of its own, on loopback, that asks for no password."""
    port = free_port()
    server = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    """A models directory nobody but root may write to, where `nobody` can reach it."""
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        os.chmod(top, 0o755)
        models = Path(top) / "models"
        models.mkdir(mode=0o555)
        try:
            yield models
        finally:
            models.chmod(0o755)


def facts_as_a_user(path: Path) -> dict[str, Any]:
    """What a worker that runs as an ordinary user finds. As root every directory is writable,
    so the facts come from a child of this process that has become `nobody` (forked: the
    interpreter lives where `nobody` may not run it from)."""
    if os.geteuid() != 0:
        return models_dir_facts(path)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: it only reads the directory and writes the answer
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, json.dumps(models_dir_facts(path)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        facts = json.loads(answer.read())
    os.waitpid(child, 0)
    return facts


# --- the database ----------------------------------------------------------------------------

def test_the_test_database_is_migrated_and_sqlite_warns():
    outcome = doctor.check_database()
    assert outcome.status == "warn"
    assert outcome.summary.endswith("every migration applied: only this machine can use it")
    assert outcome.evidence["unapplied"] == [] and outcome.evidence["applied"] > 40


def test_an_unreachable_database_fails_with_the_fix():
    outcome = doctor.check_database("sqlite:////nonexistent/arthur/db.sqlite3")
    assert (outcome.status, outcome.summary) == (
        "fail", "The database at /nonexistent/arthur/db.sqlite3 is not reachable: unable to "
                "open database file")
    assert outcome.hint.startswith("Check DATABASE_URL (host, port, user, password, database)")


def test_postgresql_that_does_not_answer_fails_and_never_shows_the_password():
    port = free_port()
    outcome = doctor.check_database(f"postgres://arthur:s3cret@127.0.0.1:{port}/arthur")
    assert outcome.status == "fail"
    assert outcome.summary.startswith(f"The database at 127.0.0.1:{port}/arthur is not "
                                      "reachable: ") or outcome.summary.startswith(
        f"No driver for the database at 127.0.0.1:{port}/arthur")
    assert "s3cret" not in json.dumps([outcome.summary, outcome.evidence, outcome.hint])


def test_an_unmigrated_database_fails_and_says_to_migrate_on_the_master(tmp_path):
    outcome = doctor.check_database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    assert outcome.status == "fail" and outcome.hint == FIX_MIGRATE
    unapplied = outcome.evidence["unapplied"]
    assert outcome.summary.startswith(f"{len(unapplied)} migration(s) not applied to ")
    assert "cluster_app.0010_gpu_monitoring" in unapplied and outcome.evidence["applied"] == 0


# --- Redis -----------------------------------------------------------------------------------

def test_the_suites_redis_answers_only_with_its_password(settings):
    outcome = doctor.check_redis()
    assert (outcome.status, outcome.hint) == ("pass", "")
    assert outcome.evidence["answers_without_password"] is False
    no_password = settings.REDIS_URL.replace(settings.REDIS_URL.split("@")[0] + "@", "redis://")
    refused = doctor.check_redis(no_password)
    assert refused.status == "fail"
    assert refused.summary.startswith("Redis at 127.0.0.1:")
    assert "asks for a password, and REDIS_URL has none" in refused.summary


def test_redis_without_a_password_is_flagged(open_redis):
    outcome = doctor.check_redis(open_redis)
    assert outcome.status == "warn"  # on loopback; on the network it fails (test_deployment)
    assert outcome.summary.endswith("answers without a password: fine while only this machine "
                                    "uses it")
    assert outcome.hint.startswith("Before other machines use it: Set `requirepass`")
    assert doctor.check_redis(f"redis://127.0.0.1:{free_port()}/0").summary.endswith(
        "Connection refused.")


# --- the workers -----------------------------------------------------------------------------

def test_a_silent_worker_fails_and_the_checks_that_need_it_are_not_made(nodes):
    """No worker consumes this process's broker: nobody answers."""
    outcomes = by_key(doctor.check_nodes([nodes["beta"], nodes["gamma"]], timeout=0.5))
    worker = outcomes["worker", "beta"]
    assert (worker.status, worker.summary) == (
        "fail", "No worker answered on node.beta.control within 0.5 s")
    assert "`manage.py service install --role node --node beta`" in worker.hint
    assert "`manage.py service install --role node --node gamma --no-logs`" in outcomes[
        "worker", "gamma"].hint  # no exo on GAMMA, so no log follower
    assert outcomes["models_dir", "beta"].summary == "Not checked: BETA's worker did not answer"
    assert outcomes["versions", "deployment"].status == "unavailable"


def test_every_worker_answering_passes(nodes, answer_here, settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    outcomes = by_key(doctor.check_nodes(list(Node.objects.all()), timeout=5))
    for name, label in (("alpha", "ALPHA"), ("beta", "BETA"), ("gamma", "GAMMA")):
        worker = outcomes["worker", name]
        assert worker.status == "pass", worker
        assert worker.summary.startswith(f"{label}'s worker answers on node.{name}.control "
                                         f"(panel {panel_version()}); clock ")
        assert abs(worker.evidence["clock_offset_s"]) < 0.5
        models = outcomes["models_dir", name]
        assert models.status == "pass"
        assert models.summary.startswith(f"{tmp_path / name} does not exist yet")
    versions = outcomes["versions", "deployment"]
    assert versions.status == "pass" and versions.summary.endswith("ALPHA, BETA, GAMMA")


def test_a_skewed_clock_in_a_workers_answer_is_a_warning(nodes, answer_here):
    answer_here["beta"] = {"clock": lambda clock: {**clock, "time": clock["time"] + 5}}
    outcomes = by_key(doctor.check_nodes([nodes["alpha"], nodes["beta"]], timeout=5))
    assert outcomes["worker", "alpha"].status == "pass"
    beta = outcomes["worker", "beta"]
    assert beta.status == "warn"
    assert beta.summary.endswith("but its clock is +5.0 s off this machine's")
    assert beta.hint.startswith("Turn on network time on BETA")


def test_another_panel_version_on_a_node_fails(nodes, answer_here):
    answer_here["gamma"] = {"version": "0.1.0+g0123456789ab"}
    outcomes = by_key(doctor.check_nodes(list(Node.objects.all()), timeout=5))
    versions = outcomes["versions", "deployment"]
    assert versions.status == "fail"
    assert versions.summary.endswith(f"runs {panel_version()}; GAMMA runs 0.1.0+g0123456789ab")
    assert versions.hint == FIX_VERSIONS


def test_a_read_only_models_directory_fails(nodes, answer_here, read_only_dir):
    Node.objects.filter(name="beta").update(models_dir=str(read_only_dir))
    answer_here["beta"] = {"models_dir": facts_as_a_user(read_only_dir)}
    outcomes = by_key(doctor.check_nodes([Node.objects.get(name="beta")], timeout=5))
    models = outcomes["models_dir", "beta"]
    assert (models.status, models.summary) == (
        "fail", f"BETA's worker cannot write to its models directory {read_only_dir}: "
                "Permission denied")
    assert models.hint.startswith(f"Give the user that runs BETA's worker write access to "
                                  f"{read_only_dir}")


# --- exo and the Hub -------------------------------------------------------------------------

def test_exo_down_and_up(exo_url):
    down = doctor.check_exo(f"http://127.0.0.1:{free_port()}")
    assert down.status == "fail" and down.summary.endswith("Connection refused")
    assert down.hint.startswith("Start the cluster")
    assert doctor.check_exo(exo_url).status == "pass"


def test_make_runs_status_file_is_read_while_its_supervisor_lives(tmp_path):
    status_file = tmp_path / "processes.json"
    assert doctor.check_processes(status_file).status == "unavailable"
    running = {"state": "running", "restarts": 0}
    status_file.write_text(json.dumps({"supervisor_pid": os.getpid(),
                                       "processes": {"web": running}}))
    assert doctor.check_processes(status_file).summary == "All 1 processes running: web"
    with subprocess.Popen(["true"]) as gone:
        gone.wait()
    status_file.write_text(json.dumps({"supervisor_pid": gone.pid,
                                       "processes": {"web": running}}))
    assert "no longer running" in doctor.check_processes(status_file).summary


def test_the_hub_down_and_up(hub, settings):
    assert hub_check().status == "pass"
    settings.HF_ENDPOINT = f"http://127.0.0.1:{free_port()}"
    down = hub_check()
    assert (down.status, down.summary) == (
        "fail", f"The Hub at {settings.HF_ENDPOINT} is not reachable: [Errno 111] Connection "
                "refused")
    assert down.hint.startswith("Check this machine's internet access")


# --- a run, its report, the API, the page, the command ---------------------------------------

@pytest.fixture
def broken_exo_and_hub(settings: Any) -> None:
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    settings.HF_ENDPOINT = f"http://127.0.0.1:{free_port()}"


def test_a_run_is_stored_and_reported_apart_from_the_health_checks(
        nodes, answer_here, broken_exo_and_hub, api_client):
    summary = doctor.doctor_run(node_timeout=5)
    assert summary["overall"] == "fail" and summary["counts"]["fail"] == 2  # exo and the Hub
    stored = {(r.name, r.scope) for r in HealthResult.objects.all()}
    assert ("doctor.database", "deployment") in stored and ("doctor.worker", "gamma") in stored
    report = api_client.get("/api/v1/health/doctor/").json()
    assert [c["name"] for c in report["checks"]][:5] == [
        "doctor.database", "doctor.redis", "doctor.exo", "doctor.hub", "doctor.versions"]
    exo = report["checks"][2]
    assert exo["status"] == "fail" and exo["fix"].startswith("Start the cluster")
    assert exo["evidence"]["from"]
    workers = [c for c in report["checks"] if c["name"] == "doctor.worker"]
    assert [c["title"] for c in workers] == [
        "Worker answering on its control queue: ALPHA",
        "Worker answering on its control queue: BETA",
        "Worker answering on its control queue: GAMMA"]
    assert api_client.get("/api/v1/health/").json()["groups"] == []  # the doctor's are apart

    Node.objects.filter(name="gamma").delete()
    doctor.doctor_run(node_timeout=5)
    assert not HealthResult.objects.filter(scope="gamma").exists()  # gone with its node


def test_the_api_starts_one_run_at_a_time(api_client, nodes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = api_client.post("/api/v1/health/doctor/")
        second = api_client.post("/api/v1/health/doctor/")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["kind"], first.json()["node"]) == ("doctor.run", None)
    assert api_client.get("/api/v1/health/doctor/").json()["running_job"]["id"] == \
        first.json()["id"]


def test_the_page_has_the_doctors_section(client, alice, nodes):
    client.force_login(alice)
    page = client.get("/health/").content.decode()
    assert 'id="doctor"' in page and "Run the doctor" in page and 'id="doctor-data"' in page


def test_the_command_prints_each_verdict_and_its_fix_and_fails(nodes, answer_here,
                                                               broken_exo_and_hub):
    out = StringIO()
    with pytest.raises(CommandError, match=r"2 check\(s\) failed") as raised:
        call_command("doctor", "--timeout", "5", stdout=out)
    assert raised.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"ARTHUR Panel {panel_version()}, checked from ")
    assert "WARN  SQLite at " in out.getvalue()
    exo = next(i for i, line in enumerate(lines) if line.startswith("FAIL  exo is not answering"))
    assert lines[exo + 1].startswith("      fix: Start the cluster")
    assert sum(line.startswith("PASS  ") for line in lines) >= 7  # Redis, workers, versions...


def test_the_command_speaks_json(nodes, answer_here, exo_url, hub):
    out = StringIO()
    call_command("doctor", "--json", "--timeout", "5", stdout=out)
    report = json.loads(out.getvalue())
    assert report["version"] == panel_version()
    statuses = {(c["name"], c["scope"]): c["status"] for c in report["checks"]}
    assert statuses["doctor.exo", "deployment"] == "pass"
    assert statuses["doctor.hub", "deployment"] == "pass"
    # Not run by `make run`: nothing to say about its processes.
    assert statuses.pop(("doctor.processes", "deployment")) == "unavailable"
    assert set(statuses.values()) == {"pass", "warn"}  # SQLite warns
