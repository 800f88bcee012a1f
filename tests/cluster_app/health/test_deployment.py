"""The doctor's verdicts, pure: each observation in, its outcome with the fix out."""

from __future__ import annotations

import pytest

from cluster_app.health import deployment
from cluster_app.health.deployment import (
    FIX_MIGRATE,
    FIX_VERSIONS,
    DatabaseFacts,
    NodeLabel,
    clock_offset,
    is_loopback,
    redis_target,
)

GIB = 1024**3
BETA = NodeLabel("beta", "BETA", "node.beta.control")
HERE = {"time": 1000.0, "redis_time": 1000.25}  # this machine is 0.25 s behind Redis
HINT = "manage.py service install --role node --node beta"


def test_a_migrated_postgresql_passes_and_sqlite_warns():
    ok = deployment.database(DatabaseFacts("postgresql", "alpha.local:5432/arthur", applied=47))
    assert (ok.name, ok.scope, ok.status, ok.hint) == ("doctor.database", "deployment", "pass", "")
    assert ok.summary == "postgresql at alpha.local:5432/arthur: reachable, 47 migrations " \
                         "applied, none missing"
    lite = deployment.database(DatabaseFacts("sqlite", "/srv/var/db.sqlite3", applied=47))
    assert lite.status == "warn" and "only this machine can use it" in lite.summary
    assert "set DATABASE_URL to PostgreSQL on ALPHA" in lite.hint


def test_an_unreachable_database_a_missing_driver_and_missing_migrations_fail():
    down = deployment.database(DatabaseFacts("postgresql", "alpha.local:5432/arthur",
                                             error="connection refused"))
    assert (down.status, down.summary) == (
        "fail", "The database at alpha.local:5432/arthur is not reachable: connection refused")
    assert down.hint.startswith("Check DATABASE_URL")
    driver = deployment.database(DatabaseFacts("postgresql", "alpha.local:5432/arthur",
                                               error="Error loading psycopg", missing_driver=True))
    assert driver.status == "fail" and "pip install -e '.[postgres]'" in driver.hint
    behind = deployment.database(DatabaseFacts("postgresql", "alpha.local:5432/arthur", applied=45,
                                               unapplied=("cluster_app.0010_gpu_monitoring",
                                                          "models_app.0006_x", "a.1", "b.2")))
    assert (behind.status, behind.hint) == ("fail", FIX_MIGRATE)
    assert behind.summary == ("4 migration(s) not applied to alpha.local:5432/arthur: "
                              "cluster_app.0010_gpu_monitoring, models_app.0006_x, a.1, ...")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("alpha.local", False), ("10.0.0.5", False), ("0.0.0.0", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_a_redis_url_says_where_and_whether_it_has_a_password_never_which():
    target = redis_target("redis://:s3cret@alpha.local:6380/2")
    assert target == deployment.RedisTarget("alpha.local", 6380, "2", True)
    assert redis_target("redis://127.0.0.1") == deployment.RedisTarget("127.0.0.1", 6379, "0",
                                                                        False)


def test_a_network_redis_url_without_a_password_fails_whatever_redis_says():
    outcome = deployment.redis(redis_target("redis://alpha.local:6379/0"), error=None,
                               refused_password=False, open_to_anyone=False)
    assert (outcome.status, outcome.summary) == (
        "fail", "REDIS_URL names alpha.local:6379 on the network with no password: Redis "
                "reachable from other machines must ask for one")
    assert "requirepass" in outcome.hint and "protected-mode yes" in outcome.hint
    assert "s3cret" not in str(deployment.redis(redis_target("redis://:s3cret@alpha.local:6379"),
                                                error=None, refused_password=False,
                                                open_to_anyone=False))


def test_redis_that_answers_anyone_warns_on_loopback_and_fails_on_the_network():
    local = deployment.redis(redis_target("redis://127.0.0.1:6379/0"), error=None,
                             refused_password=False, open_to_anyone=True)
    assert (local.status, local.summary) == (
        "warn", "Redis at 127.0.0.1:6379 answers without a password: fine while only this "
                "machine uses it")
    network = deployment.redis(redis_target("redis://:pw@alpha.local:6379/0"), error=None,
                               refused_password=False, open_to_anyone=True)
    assert (network.status, network.summary) == (
        "fail", "Redis at alpha.local:6379 answers anyone, without a password")
    closed = deployment.redis(redis_target("redis://:pw@alpha.local:6379/0"), error=None,
                              refused_password=False, open_to_anyone=False)
    assert (closed.status, closed.summary, closed.hint) == (
        "pass", "Redis at alpha.local:6379 answers, and only with a password", "")


def test_redis_down_or_refusing_the_password_fails_with_the_fix():
    down = deployment.redis(redis_target("redis://:pw@alpha.local:6379/0"), error="refused",
                            refused_password=False, open_to_anyone=None)
    assert down.summary == "Redis at alpha.local:6379 is not answering: refused"
    assert "brew services start redis" in down.hint
    wrong = deployment.redis(redis_target("redis://:pw@alpha.local:6379/0"), error="WRONGPASS",
                             refused_password=True, open_to_anyone=None)
    assert wrong.summary == ("Redis at alpha.local:6379 asks for a password, and REDIS_URL has "
                             "another: WRONGPASS")


def test_the_clock_offset_leaves_out_the_time_a_question_waited():
    """The node read its clock 40 s after this machine (the question queued), both against
    Redis: its clock is 3 s ahead, whatever the wait."""
    node = {"time": 1043.25, "redis_time": 1040.5}
    assert clock_offset(node, HERE) == pytest.approx(3.0)


def test_a_worker_that_answers_passes_and_a_skewed_clock_warns():
    answer = {"node": "beta", "version": "0.1.0+gabc", "host": "beta.local",
              "clock": {"time": 1001.25, "redis_time": 1001.0}}
    ok = deployment.worker(BETA, answer, here=HERE, timeout=10, install_hint=HINT)
    assert (ok.name, ok.scope, ok.status) == ("doctor.worker", "beta", "pass")
    assert ok.summary == ("BETA's worker answers on node.beta.control (panel 0.1.0+gabc); "
                          "clock +0.50 s")
    assert ok.evidence["clock_offset_s"] == 0.5
    level = {**answer, "clock": {"time": 1000.999, "redis_time": 1001.25}}
    assert deployment.worker(BETA, level, here=HERE, timeout=10,
                             install_hint=HINT).summary.endswith("clock +0.00 s")
    skewed = {**answer, "clock": {"time": 1004.0, "redis_time": 1001.0}}
    late = deployment.worker(BETA, skewed, here=HERE, timeout=10, install_hint=HINT)
    assert (late.status, late.summary) == (
        "warn", "BETA's worker answers on node.beta.control (panel 0.1.0+gabc), but its clock "
                "is +3.2 s off this machine's")
    assert "timedatectl set-ntp true" in late.hint


def test_a_silent_worker_fails_and_says_how_to_start_it():
    outcome = deployment.worker(BETA, None, here=HERE, timeout=10, install_hint=HINT)
    assert (outcome.status, outcome.summary) == (
        "fail", "No worker answered on node.beta.control within 10 s")
    assert outcome.hint == ("Start BETA's workers: on BETA, `manage.py service install --role "
                            "node --node beta`, then `manage.py service status`; its control "
                            "worker consumes node.beta.control.")


def test_the_models_directory_verdicts():
    facts = {"path": "/Volumes/models", "exists": True, "writable": True, "free_bytes": 900 * GIB,
             "error": ""}
    assert deployment.models_dir(BETA, facts).summary == (
        "/Volumes/models on BETA: writable, 900 GB free")
    low = deployment.models_dir(BETA, {**facts, "free_bytes": 12 * GIB})
    assert (low.status, low.summary) == (
        "warn", "/Volumes/models on BETA is writable, but only 12 GB is free")
    new = deployment.models_dir(BETA, {**facts, "exists": False})
    assert (new.status, new.summary) == (
        "pass", "/Volumes/models does not exist yet; BETA's worker can create it (900 GB free)")
    locked = deployment.models_dir(BETA, {**facts, "writable": False,
                                          "error": "Permission denied"})
    assert (locked.status, locked.summary) == (
        "fail", "BETA's worker cannot write to its models directory /Volumes/models: "
                "Permission denied")
    assert "write access to /Volumes/models" in locked.hint
    silent = deployment.models_dir(BETA, None)
    assert (silent.status, silent.scope) == ("unavailable", "beta")


def test_one_version_everywhere():
    same = deployment.versions(here="0.1.0+gabc", host="alpha",
                               answers={"ALPHA": "0.1.0+gabc", "BETA": "0.1.0+gabc"})
    assert (same.status, same.summary) == ("pass", "Panel 0.1.0+gabc here (alpha) and on "
                                                   "ALPHA, BETA")
    other = deployment.versions(here="0.1.0+gabc", host="alpha",
                                answers={"ALPHA": "0.1.0+gabc", "GAMMA": "0.1.0+g123"})
    assert (other.status, other.summary, other.hint) == (
        "fail", "Not the same panel everywhere: alpha runs 0.1.0+gabc; GAMMA runs 0.1.0+g123",
        FIX_VERSIONS)
    assert deployment.versions(here="x", host="alpha", answers={}).status == "unavailable"


def test_exo_and_the_hub():
    down = deployment.exo(url="http://alpha.local:52415", error="[Errno 111] Connection refused")
    assert down.summary == ("exo is not answering at http://alpha.local:52415: [Errno 111] "
                            "Connection refused")
    assert "EXO_API_URL" in down.hint
    broken = deployment.exo(url="http://alpha.local:52415", error="oops", answered=500)
    assert broken.summary == "exo at http://alpha.local:52415 answered 500: oops"
    assert deployment.exo(url="u", error=None, elapsed_ms=3).summary == "exo answers at u (3 ms)"
    hub = deployment.hub(endpoint="https://huggingface.co", error="timed out")
    assert (hub.status, hub.summary) == (
        "fail", "The Hub at https://huggingface.co is not reachable: timed out")
    assert "HF_ENDPOINT" in hub.hint


def test_make_runs_processes():
    def group(**changes):
        steady = {"state": "running", "restarts": 0, "last_exit_code": None,
                  "last_exit_at": None, "next_start_at": None}
        return {"supervisor_pid": 10, "processes": {"beat": steady, "redis": {**steady, **changes}}}

    now = 10_000.0
    assert deployment.processes(group(), supervisor_alive=True, now=now).summary == (
        "All 2 processes running: beat, redis")
    recent = deployment.processes(group(restarts=2, last_exit_code=-9, last_exit_at=now - 30),
                                  supervisor_alive=True, now=now)
    assert (recent.status, recent.summary) == (
        "warn", "redis restarted 2x (last ended with rc=-9, 30 s ago)")
    assert "make run" in recent.hint
    long_ago = group(restarts=2, last_exit_code=-9, last_exit_at=now - 3601)
    assert deployment.processes(long_ago, supervisor_alive=True, now=now).status == "pass"
    down = deployment.processes(group(state="restarting", restarts=3, last_exit_code=1,
                                      last_exit_at=now - 1, next_start_at=now + 4),
                                supervisor_alive=True, now=now)
    assert (down.status, down.summary) == (
        "fail", "redis is down (ended with rc=1), starting again in 4 s")
    assert deployment.processes(None, supervisor_alive=False, now=now).summary.startswith(
        "Not checked: not run by `make run`")
    assert "no longer running" in deployment.processes(
        group(), supervisor_alive=False, now=now).summary
