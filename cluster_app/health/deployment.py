"""The doctor's verdicts on a deployment: observations in, outcomes out. No I/O, no clock, no
Django.

Each says pass, warn or fail (or not available when it could not look), the evidence, and when
it is not a pass, the fix: one sentence saying what to do, where.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cluster_app.health.checks import FAIL, PASS, UNAVAILABLE, WARN, Outcome
from cluster_app.nodes.units import GIB, format_gib

DEPLOYMENT = "deployment"  # the scope of the checks that are not one node's
PREFIX = "doctor."
# name -> title, in the order the page lists them.
DOCTOR_CHECKS: dict[str, str] = {
    "doctor.database": "Database reachable and migrated",
    "doctor.redis": "Redis reachable, and only with a password",
    "doctor.exo": "exo at EXO_API_URL",
    "doctor.hub": "The Hugging Face Hub at HF_ENDPOINT",
    "doctor.versions": "The same panel version everywhere",
    "doctor.worker": "Worker answering on its control queue",
    "doctor.models_dir": "Models directory writable, with free space",
    "doctor.processes": "The panel's processes kept running (make run)",
}
CLOCK_SKEW_SECONDS = 2.0
MODELS_MIN_FREE = 20 * GIB  # room for a few of the guide's smaller models

FIX_MIGRATE = ("Run `.venv/bin/python manage.py migrate` once, on the master (ALPHA), after "
               "every upgrade.")
FIX_PROCESS_DOWN = ("Read `make run`'s output for why it ended (its lines start with the "
                    "process's name); the panel starts it again by itself.")
# Restarts this recent make the check a warning: someone should look at why.
RESTARTS_RECENT_SECONDS = 3600.0
FIX_VERSIONS = ("Put every machine on the same commit (`git pull`, `.venv/bin/pip install -e "
                "'.[postgres]'`, `manage.py service install` again), then migrate once on the "
                "master.")


def _outcome(name: str, status: str, summary: str, evidence: dict[str, Any], fix: str = "",
             scope: str = DEPLOYMENT) -> Outcome:
    return Outcome(PREFIX + name, scope, status, summary, evidence, fix if status != PASS else "")


def not_checked(name: str, why: str, scope: str = DEPLOYMENT) -> Outcome:
    return _outcome(name, UNAVAILABLE, f"Not checked: {why}", {}, scope=scope)


# --- the database ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DatabaseFacts:
    vendor: str  # "postgresql", "sqlite", ...
    where: str  # host:port/name, or the SQLite file; never the password
    error: str | None = None
    missing_driver: bool = False
    applied: int = 0
    unapplied: tuple[str, ...] = ()


def database(facts: DatabaseFacts) -> Outcome:
    evidence = {"vendor": facts.vendor, "where": facts.where, "error": facts.error,
                "applied": facts.applied, "unapplied": list(facts.unapplied)}
    if facts.missing_driver:
        return _outcome("database", FAIL, f"No driver for the database at {facts.where}: "
                                          f"{facts.error}", evidence,
                        "Install the panel with PostgreSQL's driver on this machine: "
                        "`.venv/bin/pip install -e '.[postgres]'`.")
    if facts.error is not None:
        return _outcome("database", FAIL, f"The database at {facts.where} is not reachable: "
                                          f"{facts.error}", evidence,
                        "Check DATABASE_URL (host, port, user, password, database) and that "
                        "PostgreSQL on ALPHA listens on the cluster interface "
                        "(`listen_addresses`, and a `pg_hba.conf` line for the cluster's "
                        "addresses).")
    if facts.unapplied:
        shown = ", ".join(facts.unapplied[:3]) + (", ..." if len(facts.unapplied) > 3 else "")
        return _outcome("database", FAIL, f"{len(facts.unapplied)} migration(s) not applied to "
                                          f"{facts.where}: {shown}", evidence, FIX_MIGRATE)
    if facts.vendor == "sqlite":
        return _outcome("database", WARN, f"SQLite at {facts.where}, every migration applied: "
                                          "only this machine can use it", evidence,
                        "Workers on other machines need the master's database: set "
                        "DATABASE_URL to PostgreSQL on ALPHA on every machine (README, "
                        "Deploying on the cluster).")
    return _outcome("database", PASS, f"{facts.vendor} at {facts.where}: reachable, "
                                      f"{facts.applied} migrations applied, none missing",
                    evidence)


# --- Redis -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RedisTarget:
    host: str
    port: int
    db: str
    has_password: bool

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def redis_target(url: str) -> RedisTarget:
    """What REDIS_URL names, without its password."""
    parts = urlsplit(url)
    return RedisTarget(host=parts.hostname or "localhost", port=parts.port or 6379,
                       db=parts.path.strip("/") or "0", has_password=bool(parts.password))


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redis(target: RedisTarget, *, error: str | None, refused_password: bool,
          open_to_anyone: bool | None) -> Outcome:
    """`error`: why the panel's own connection failed (`refused_password` when Redis refused
    it for want of the right password); `open_to_anyone`: whether Redis also answered a
    connection that gave no password (None when that could not be tried)."""
    evidence = {"host": target.host, "port": target.port, "db": target.db,
                "url_has_password": target.has_password, "loopback": target.loopback,
                "error": error, "answers_without_password": open_to_anyone}
    fix_password = ("Set `requirepass` (or an ACL user) in ALPHA's redis.conf, keep "
                    "`protected-mode yes`, and put the password in REDIS_URL on every machine: "
                    "redis://:<password>@alpha.local:6379/0.")
    if not target.has_password and not target.loopback:
        return _outcome("redis", FAIL, f"REDIS_URL names {target.where} on the network with no "
                                       "password: Redis reachable from other machines must ask "
                                       "for one", evidence, fix_password)
    if refused_password:
        said = "has none" if not target.has_password else "has another"
        return _outcome("redis", FAIL, f"Redis at {target.where} asks for a password, and "
                                       f"REDIS_URL {said}: {error}", evidence,
                        "Put the password of ALPHA's redis.conf (`requirepass`, or an ACL "
                        "user's) in REDIS_URL: redis://:<password>@alpha.local:6379/0.")
    if error is not None:
        return _outcome("redis", FAIL, f"Redis at {target.where} is not answering: {error}",
                        evidence,
                        "Start Redis on ALPHA (`brew services start redis`), bound to the "
                        "cluster interface, and check the host and port in REDIS_URL.")
    if open_to_anyone:
        if target.loopback:
            return _outcome("redis", WARN, f"Redis at {target.where} answers without a "
                                           "password: fine while only this machine uses it",
                            evidence, "Before other machines use it: " + fix_password)
        return _outcome("redis", FAIL, f"Redis at {target.where} answers anyone, without a "
                                       "password", evidence, fix_password)
    return _outcome("redis", PASS, f"Redis at {target.where} answers, and only with a password",
                    evidence)


# --- exo and the Hub -------------------------------------------------------------------------

def exo(*, url: str, error: str | None, answered: int | None = None,
        elapsed_ms: int | None = None) -> Outcome:
    """`error`: why exo's `/state` could not be read; `answered`: the HTTP status exo gave, when
    it answered with an error rather than not at all."""
    evidence = {"url": url, "error": error, "answered": answered, "elapsed_ms": elapsed_ms}
    if error is not None:
        summary = (f"exo at {url} answered {answered}: {error}" if answered is not None
                   else f"exo is not answering at {url}: {error}")
        return _outcome("exo", FAIL, summary, evidence,
                        "Start the cluster (Cluster page, or `~/start-exo-cluster.sh` on ALPHA) "
                        "and check EXO_API_URL: exo listens on port 52415 of the master, e.g. "
                        "http://alpha.local:52415.")
    return _outcome("exo", PASS, f"exo answers at {url} ({elapsed_ms} ms)", evidence)


def hub(*, endpoint: str, error: str | None, elapsed_ms: int | None = None) -> Outcome:
    evidence = {"endpoint": endpoint, "error": error, "elapsed_ms": elapsed_ms}
    if error is not None:
        return _outcome("hub", FAIL, f"The Hub at {endpoint} is not reachable: {error}",
                        evidence,
                        "Check this machine's internet access (or HF_ENDPOINT, for a mirror): "
                        "downloads and adding models need the Hub.")
    return _outcome("hub", PASS, f"The Hub answers at {endpoint} ({elapsed_ms} ms)", evidence)


# --- each node's worker ----------------------------------------------------------------------

@dataclass(frozen=True)
class NodeLabel:
    name: str
    display_name: str
    queue: str  # its control queue


def clock_offset(node: Mapping[str, float], here: Mapping[str, float]) -> float:
    """Seconds the node's clock is ahead of this machine's. Each side read its own clock and
    Redis's at once (`time`, `redis_time`): comparing both with Redis leaves out how long the
    question waited in the queue."""
    return (node["time"] - node["redis_time"]) - (here["time"] - here["redis_time"])


def worker(node: NodeLabel, answer: Mapping[str, Any] | None, *, here: Mapping[str, float],
           timeout: float, install_hint: str) -> Outcome:
    label = node.display_name
    if answer is None:
        return _outcome("worker", FAIL, f"No worker answered on {node.queue} within "
                                        f"{timeout:g} s", {"queue": node.queue,
                                                           "timeout_s": timeout},
                        f"Start {label}'s workers: on {label}, `{install_hint}`, then "
                        "`manage.py service status`; its control worker consumes "
                        f"{node.queue}.", scope=node.name)
    offset = clock_offset(answer["clock"], here)
    evidence = {"queue": node.queue, "version": answer.get("version"), "host": answer.get("host"),
                "clock_offset_s": round(offset, 3), "clock": answer["clock"],
                "here": dict(here)}
    seen = f"{label}'s worker answers on {node.queue} (panel {answer.get('version')})"
    if abs(offset) > CLOCK_SKEW_SECONDS:
        return _outcome("worker", WARN, f"{seen}, but its clock is {offset:+.1f} s off this "
                                        "machine's", evidence,
                        f"Turn on network time on {label} (System Settings > General > Date & "
                        "Time on a Mac, `timedatectl set-ntp true` on Linux): job leases and "
                        "last-seen times compare clocks.", scope=node.name)
    # + 0.0: a tiny negative offset shows as +0.00, not -0.00.
    return _outcome("worker", PASS, f"{seen}; clock {round(offset, 2) + 0.0:+.2f} s", evidence,
                    scope=node.name)


def models_dir(node: NodeLabel, facts: Mapping[str, Any] | None, *,
               min_free: int = MODELS_MIN_FREE) -> Outcome:
    """What the node's worker found of its models directory (cluster_app/health/disk.py)."""
    label = node.display_name
    if facts is None:
        return not_checked("models_dir", f"{label}'s worker did not answer", scope=node.name)
    path, free = facts["path"], facts.get("free_bytes")
    shown = format_gib(free) if isinstance(free, int) else "unknown"
    evidence = dict(facts)
    if not facts.get("writable"):
        return _outcome("models_dir", FAIL, f"{label}'s worker cannot write to its models "
                                            f"directory {path}: {facts.get('error')}", evidence,
                        f"Give the user that runs {label}'s worker write access to {path} "
                        "(`chown -R`), or set another models directory for the node in the "
                        "admin.", scope=node.name)
    if isinstance(free, int) and free < min_free:
        return _outcome("models_dir", WARN, f"{path} on {label} is writable, but only {shown} "
                                            "is free", evidence,
                        f"Free space on {label}'s disk (delete models on the Downloads page), "
                        "or point the node's models directory at a bigger disk (admin).",
                        scope=node.name)
    if not facts.get("exists"):
        return _outcome("models_dir", PASS, f"{path} does not exist yet; {label}'s worker can "
                                            f"create it ({shown} free)", evidence,
                        scope=node.name)
    return _outcome("models_dir", PASS, f"{path} on {label}: writable, {shown} free", evidence,
                    scope=node.name)


def versions(*, here: str, host: str, answers: Mapping[str, str | None]) -> Outcome:
    """This machine's panel version against each answering node's (display name -> version)."""
    evidence = {"here": here, "host": host, "nodes": dict(answers)}
    if not answers:
        return not_checked("versions", "no worker answered")
    other = {label: version for label, version in answers.items() if version != here}
    if other:
        shown = "; ".join(f"{label} runs {version}" for label, version in other.items())
        return _outcome("versions", FAIL, f"Not the same panel everywhere: {host} runs {here}; "
                                          f"{shown}", evidence, FIX_VERSIONS)
    return _outcome("versions", PASS, f"Panel {here} here ({host}) and on "
                                      f"{', '.join(answers)}", evidence)


def processes(document: Mapping[str, Any] | None, *, supervisor_alive: bool,
              now: float) -> Outcome:
    """`make run`'s status file (arthur_panel/supervisor.py): every process running, and none
    restarted within the last hour. `now`: Unix seconds."""
    if document is None:
        return not_checked("processes", "not run by `make run` (launchd or systemd keep the "
                                        "services running there)")
    if not supervisor_alive:
        return not_checked("processes", "the status file is left from a `make run` that is no "
                                        "longer running")
    group: Mapping[str, Mapping[str, Any]] = document.get("processes", {})
    evidence = {"processes": dict(group)}
    down = {name: p for name, p in group.items() if p.get("state") != "running"}
    if down:
        shown = "; ".join(f"{name} is down (ended with rc={p.get('last_exit_code')}), starting "
                          f"again in {max(0.0, (p.get('next_start_at') or now) - now):.0f} s"
                          for name, p in sorted(down.items()))
        return _outcome("processes", FAIL, shown, evidence, FIX_PROCESS_DOWN)
    recent = {name: p for name, p in group.items() if p.get("restarts") and
              now - (p.get("last_exit_at") or 0.0) < RESTARTS_RECENT_SECONDS}
    if recent:
        shown = "; ".join(f"{name} restarted {p['restarts']}x (last ended with "
                          f"rc={p.get('last_exit_code')}, {now - p['last_exit_at']:.0f} s ago)"
                          for name, p in sorted(recent.items()))
        return _outcome("processes", WARN, shown, evidence, FIX_PROCESS_DOWN)
    return _outcome("processes", PASS, f"All {len(group)} processes running: "
                                       f"{', '.join(sorted(group))}", evidence)
