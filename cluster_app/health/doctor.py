"""The doctor: is this deployment sound, seen from where it runs? The database (reachable,
migrated), Redis (reachable, and only with a password), each node's worker answering on its
control queue (its panel version, its clock, its models directory), exo, the Hub, and one panel
version everywhere. `manage.py doctor` prints the verdicts; a `doctor.run` job (the Health page,
and beat every DOCTOR_SECONDS) stores them as health results named `doctor.*`."""

from __future__ import annotations

import socket
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import dj_database_url
import psutil
import redis as redis_py
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import ConnectionHandler
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from arthur_panel.celery import Lane
from arthur_panel.redis_client import redis_client
from arthur_panel.supervisor import STATUS_FILE, read_status
from arthur_panel.version import panel_version
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.health import asking, checks, deployment
from cluster_app.health.checks import Outcome
from cluster_app.health.deployment import DatabaseFacts, NodeLabel
from cluster_app.health.disk import models_dir_facts
from cluster_app.health.extra_checks import registered_checks
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter, job_payload
from cluster_app.jobs.services import job_create, run_unless_under_way
from cluster_app.models import HealthResult, Job, Node

DOCTOR_RUN = "doctor.run"
# Sent by name: the tasks module imports this one, not the other way round.
NODE_TASK = "cluster_app.tasks.doctor_node_task"
NODE_ANSWER_SECONDS = 10.0
LOCK_KEY = "arthur:doctor-run-lock"
CONNECT_TIMEOUT = 5.0


def install_hint(node: Node) -> str:
    """The command that installs `node`'s services, on the node."""
    role = "master" if node.role == Node.Role.MASTER else "node"
    logs = "" if node.in_exo_cluster else " --no-logs"  # no exo there, no exo logs
    return f"manage.py service install --role {role} --node {node.name}{logs}"


# --- this machine's view ---------------------------------------------------------------------

def _where(config: Mapping[str, Any]) -> str:
    if "sqlite" in config["ENGINE"]:
        return str(config["NAME"])
    host = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 'default port'}"
    return f"{host}/{config.get('NAME')}"


def _database_facts(connection: BaseDatabaseWrapper) -> DatabaseFacts:
    where = _where(connection.settings_dict)
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return DatabaseFacts(connection.vendor, where, error=str(exc).strip() or repr(exc))
    return DatabaseFacts(connection.vendor, where, applied=len(executor.loader.applied_migrations),
                         unapplied=tuple(f"{m.app_label}.{m.name}" for m, _ in plan))


def check_database(url: str | None = None) -> Outcome:
    """The panel's database, or the one `url` names (a connection of its own, closed after)."""
    if url is None:
        return deployment.database(_database_facts(connections["default"]))
    config = dj_database_url.parse(url)
    handler = ConnectionHandler({"default": config})
    try:
        connection = handler["default"]
    except ImproperlyConfigured as exc:
        vendor = config["ENGINE"].rsplit(".", 1)[-1]
        return deployment.database(DatabaseFacts(vendor, _where(config), error=str(exc),
                                                 missing_driver=True))
    try:
        return deployment.database(_database_facts(connection))
    finally:
        connection.close()


def _once() -> dict[str, Any]:
    """Connection options for one try: redis-py retries a refused password as it retries a
    dropped connection, with backoff."""
    return {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": CONNECT_TIMEOUT,
            "retry": Retry(NoBackoff(), 0)}


def check_redis(url: str | None = None) -> Outcome:
    """Redis at REDIS_URL (or `url`): the panel's connection, then one with no password."""
    url = url or settings.REDIS_URL
    target = deployment.redis_target(url)
    try:
        with redis_py.Redis.from_url(url, **_once()) as panels:
            panels.ping()
    except redis_py.AuthenticationError as exc:
        return deployment.redis(target, error=str(exc), refused_password=True,
                                open_to_anyone=None)
    except redis_py.RedisError as exc:
        return deployment.redis(target, error=str(exc), refused_password=False,
                                open_to_anyone=None)
    open_to_anyone: bool | None
    try:
        with redis_py.Redis(host=target.host, port=target.port, ssl=url.startswith("rediss"),
                            **_once()) as anonymous:
            open_to_anyone = bool(anonymous.ping())
    except redis_py.AuthenticationError:
        open_to_anyone = False
    except redis_py.RedisError:
        open_to_anyone = None
    return deployment.redis(target, error=None, refused_password=False,
                            open_to_anyone=open_to_anyone)


def check_processes(path: Path | None = None) -> Outcome:
    """`make run`'s status file, where this process runs (its var/)."""
    document = read_status(path or settings.VAR_DIR / STATUS_FILE)
    alive = document is not None and psutil.pid_exists(int(document.get("supervisor_pid", 0)))
    return deployment.processes(document, supervisor_alive=alive, now=time.time())


def check_exo(url: str | None = None) -> Outcome:
    started = time.perf_counter()
    with ExoClient(url, retries=0) as client:
        try:
            client.state()
        except ExoUnavailable as exc:
            return deployment.exo(url=client.base_url, error=str(exc.__cause__ or exc.message))
        except ExoError as exc:
            return deployment.exo(url=client.base_url, error=exc.message,
                                  answered=exc.exo_status)
    return deployment.exo(url=client.base_url, error=None,
                          elapsed_ms=round((time.perf_counter() - started) * 1000))


def clock_sample() -> dict[str, float]:
    """This machine's clock and Redis's, read together (Redis's at the middle of the call)."""
    before = time.time()
    seconds, microseconds = redis_client().time()
    after = time.time()
    return {"time": (before + after) / 2, "redis_time": seconds + microseconds / 1e6}


# --- each node's worker ----------------------------------------------------------------------

def node_answer(node: Node) -> dict[str, Any]:
    """What a node's worker tells the doctor: who it is, its panel, its clock, and what it can
    do with the node's models directory."""
    return {"node": node.name, "host": socket.gethostname(), "version": panel_version(),
            "clock": clock_sample(), "models_dir": models_dir_facts(node.models_path)}


def doctor_node_reply(*, node_name: str, reply_key: str) -> None:
    """On the node's worker: answer the doctor waiting on `reply_key`."""
    node = Node.objects.filter(name=node_name).first()
    if node is not None:
        asking.reply(reply_key, node_answer(node))


def _ask_nodes(nodes: list[Node], reply_key: str, timeout: float) -> None:
    for node in nodes:
        asking.send(NODE_TASK, node, [node.name, reply_key], timeout=timeout)


def check_nodes(nodes: list[Node], *, timeout: float = NODE_ANSWER_SECONDS) -> list[Outcome]:
    """Each node's worker and models directory, and one panel version everywhere."""
    here = clock_sample()
    reply_key = f"arthur:doctor:{uuid.uuid4().hex}"
    _ask_nodes(nodes, reply_key, timeout)
    answered = {answer["node"]: answer for answer in
                asking.answers(reply_key, {node.name for node in nodes}, timeout)}
    outcomes = []
    for node in nodes:
        label = NodeLabel(node.name, node.display_name, node.control_queue)
        answer = answered.get(node.name)
        outcomes += [deployment.worker(label, answer, here=here, timeout=timeout,
                                       install_hint=install_hint(node)),
                     deployment.models_dir(label, answer and answer["models_dir"])]
    versions = {node.display_name: answered[node.name].get("version")
                for node in nodes if node.name in answered}
    return [*outcomes, deployment.versions(here=panel_version(), host=socket.gethostname(),
                                           answers=versions)]


def doctor_checks(*, node_timeout: float = NODE_ANSWER_SECONDS) -> list[Outcome]:
    """Every check, from this machine; the node checks only when the inventory (in the
    database) and the way to the workers (Redis) are there."""
    database = check_database()
    redis = check_redis()
    outcomes = [database, redis, check_exo(), check_processes(),
                *(check() for check in registered_checks())]
    if database.status == checks.FAIL:
        return [*outcomes, deployment.not_checked("worker", "the node inventory is in the "
                                                            "database, which failed its check")]
    if redis.status == checks.FAIL and redis.evidence.get("error") is not None:
        return [*outcomes, deployment.not_checked("worker", "the workers are asked through "
                                                            "Redis, which is not answering")]
    return [*outcomes, *check_nodes(list(Node.objects.all()), timeout=node_timeout)]


# --- a stored run ----------------------------------------------------------------------------

def doctor_run(*, node_timeout: float = NODE_ANSWER_SECONDS,
               reporter: JobReporter | None = None) -> dict[str, Any]:
    """The checks, stored as the latest result of each; a check no longer made (a node that
    left the inventory) is forgotten. Returns the run's summary."""
    if reporter is not None:
        reporter.progress(0, 1, unit="steps", message="Checking the deployment")
    outcomes = doctor_checks(node_timeout=node_timeout)
    checked_at = timezone.now()
    for outcome in outcomes:
        HealthResult.objects.update_or_create(
            name=outcome.name, scope=outcome.scope,
            defaults={"status": outcome.status, "summary": outcome.summary[:255],
                      "evidence": {**outcome.evidence, "from": socket.gethostname()},
                      "hint": outcome.hint[:255], "checked_at": checked_at})
    HealthResult.objects.filter(name__startswith=deployment.PREFIX,
                                checked_at__lt=checked_at).delete()
    counts = Counter(o.status for o in outcomes)
    overall = checks.overall(counts)
    if reporter is not None:
        for outcome in outcomes:
            reporter.log(f"{outcome.status:<11} {outcome.scope:<10} {outcome.name}: "
                         f"{outcome.summary}")
        reporter.progress(1, 1, message=f"{overall.upper()}: " + ", ".join(
            f"{n} {status}" for status, n in sorted(counts.items())))
    return {"overall": overall, "counts": dict(counts)}


def run_doctor_job(job: Job, reporter: JobReporter) -> dict[str, Any]:
    return doctor_run(reporter=reporter)


DOCTOR_KIND = JobKind(name=DOCTOR_RUN, label="Doctor", run=run_doctor_job, needs_node=False,
                      lane=Lane.CONTROL)


def doctor_start(*, user: Any) -> tuple[Job, bool]:
    """Start a run as a job; a run already under way is returned instead of a second one."""
    return job_create(kind=DOCTOR_RUN, node=None, params={}, user=user, dedupe_key="doctor")


def doctor_run_periodic() -> dict[str, Any] | None:
    """Beat's run, unless one (periodic or a job) is already under way."""
    return run_unless_under_way(DOCTOR_RUN, LOCK_KEY, NODE_ANSWER_SECONDS + 60, doctor_run)


def doctor_report(*, now: datetime | None = None) -> dict[str, Any]:
    """The latest run's results in page order, the overall status and the run under way."""
    now = now or timezone.now()
    order = {name: index for index, name in enumerate(deployment.DOCTOR_CHECKS)}
    scopes = {deployment.DEPLOYMENT: -1, **{name: index for index, name in enumerate(
        Node.objects.values_list("name", flat=True))}}
    labels = dict(Node.objects.values_list("name", "display_name"))
    results = sorted(HealthResult.objects.filter(name__startswith=deployment.PREFIX),
                     key=lambda r: (order.get(r.name, len(order)), scopes.get(r.scope, 99)))
    running = Job.objects.select_related("node", "created_by").filter(
        kind=DOCTOR_RUN, state__in=Job.ACTIVE).first()
    counts = Counter(r.status for r in results)
    return {
        "overall": checks.overall(counts),
        "counts": dict(counts),
        "checked_at": max((r.checked_at.isoformat() for r in results), default=None),
        "interval_seconds": settings.DOCTOR_SECONDS,
        "checks": [_check_payload(r, labels, now) for r in results],
        "running_job": job_payload(running) if running else None,
    }


def _check_payload(result: HealthResult, labels: dict[str, str], now: datetime
                   ) -> dict[str, Any]:
    title = deployment.DOCTOR_CHECKS.get(result.name, result.name)
    if result.scope != deployment.DEPLOYMENT:
        title += f": {labels.get(result.scope, result.scope)}"
    age = max((now - result.checked_at).total_seconds(), 0.0)
    return {"name": result.name, "scope": result.scope, "status": result.status, "title": title,
            "summary": result.summary, "fix": result.hint, "evidence": result.evidence,
            "checked_at": result.checked_at.isoformat(), "age_seconds": round(age, 1),
            "stale": age > 3 * settings.DOCTOR_SECONDS}


def outcome_lines(outcome: Outcome) -> list[str]:
    """An outcome for a terminal: the verdict and summary, then the fix."""
    lines = [f"{outcome.status.upper():<5} {outcome.summary}"]
    if outcome.hint:
        lines.append(f"      fix: {outcome.hint}")
    return lines


def as_dict(outcome: Outcome) -> dict[str, Any]:
    return {**asdict(outcome), "fix": outcome.hint}
