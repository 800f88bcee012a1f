"""The services each machine of the cluster runs, as its OS runs them: launchd agents on the Macs
(ALPHA, BETA), systemd user units on Linux (GAMMA). Plain data in (role, node, paths, the
environment), file contents and command argument lists out; no I/O.

The master runs the web server, both Celery workers, beat and the exo log follower; a node runs
its two workers on its own queues and, if it runs exo, the log follower. Every service reads
the same environment: on launchd from its plist, on systemd from the env file (mode 0600, as it
holds the Redis and database passwords; the plists are 0600 for the same reason).
"""

from __future__ import annotations

import plistlib
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MASTER, NODE = "master", "node"
ROLES = (MASTER, NODE)
LAUNCHD, SYSTEMD = "launchd", "systemd"
PLATFORMS = (LAUNCHD, SYSTEMD)
LABEL_PREFIX = "com.arthur-panel."
UNIT_PREFIX = "arthur-panel-"
NODE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
SECRET_MODE, PUBLIC_MODE = 0o600, 0o644
# Seconds launchd and systemd wait before starting a crashed service again.
RESTART_SECONDS = 5

# The panel's variables a service reads, passed on from the environment the install runs in
# when they are set there (a test keeps this list and the README's table in step). The
# install sets WORKER_NODES and ARTHUR_VAR_DIR itself.
PASSED_ON = (
    "DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE", "DJANGO_DEBUG", "DJANGO_ENV",
    "TRUST_X_FORWARDED_PROTO", "DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL", "DATABASE_CONN_MAX_AGE", "TIME_ZONE", "LOG_LEVEL", "LOGIN_FAILURE_LIMIT",
    "LOGIN_LOCKOUT_MINUTES", "SESSION_HOURS", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "REDIS_URL",
    "EXO_API_URL", "EXO_TIMEOUT", "EXO_RETRIES",
    "CLUSTER_POLL_SECONDS", "NODE_OFFLINE_SECONDS", "INSTANCE_LOAD_TIMEOUT", "IBV_DEVINFO_PATH",
    "HF_ENDPOINT", "HF_TOKEN", "MODELS_DIR", "DOWNLOAD_STALL_SECONDS", "DOWNLOAD_RETRIES",
    "DOWNLOAD_CONNECTIONS", "DOWNLOAD_FILES_AT_ONCE",
    "ELECTRICITY_PRICE_PER_KWH", "CHAT_MAX_TOKENS", "CHAT_MAX_REQUEST_BYTES",
    "RATE_CHAT_REQUESTS_PER_MINUTE",
    "RATE_CHAT_TOKENS_PER_DAY", "RATE_API_REQUESTS_PER_MINUTE", "RATE_STREAMS_PER_USER", "HOST",
    "PORT", "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS", "WS_MAX_SOCKETS_PER_USER", "WS_OUTBOX_BYTES", "WORKER_CONCURRENCY",
    "CONTROL_CONCURRENCY", "WORKER_OFFLINE_SECONDS", "JOB_LEASE_SECONDS",
    "JOB_MAX_ACTIVE_PER_USER", "JOB_RETENTION_DAYS", "AUDIT_RETENTION_DAYS",
    "METRICS_ALLOWED_ADDRESSES", "PROMETHEUS_MULTIPROC_DIR", "PANEL_URL",
    "ALERT_EVALUATE_SECONDS", "ALERT_TIMEOUT", "ALERT_RETRY_SECONDS", "ALERT_DELIVERY_ATTEMPTS",
    "ALERT_RETENTION_DAYS", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS", "EMAIL_USE_SSL", "DEFAULT_FROM_EMAIL",
)
# Without these a machine would run on its own SQLite and its own Redis, apart from the cluster.
REQUIRED = ("DATABASE_URL", "REDIS_URL")
# Also passed on: where programs are (exo's start script may need Homebrew's) and the locale.
SYSTEM = ("PATH", "LANG", "LC_ALL")
SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSWORD")
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")


class DeployError(ValueError):
    """The install cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class Paths:
    root: Path  # the checkout the services run from
    python: Path  # the virtualenv's interpreter
    home: Path
    var_dir: Path

    @property
    def env_file(self) -> Path:
        return self.var_dir / "service.env"

    @property
    def launch_agents(self) -> Path:
        return self.home / "Library" / "LaunchAgents"

    @property
    def log_dir(self) -> Path:
        return self.home / "Library" / "Logs" / "arthur-panel"

    @property
    def systemd_dir(self) -> Path:
        return self.home / ".config" / "systemd" / "user"


@dataclass(frozen=True)
class Process:
    name: str
    description: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class ServiceFile:
    path: Path
    content: bytes
    mode: int


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    # Stopping what is not running fails, and that is fine.
    may_fail: bool = False


@dataclass(frozen=True)
class Plan:
    """An install or uninstall: commands to stop, files to remove and to write, then commands
    to start."""

    stop: list[Command] = field(default_factory=list)
    remove: list[Path] = field(default_factory=list)
    write: list[ServiceFile] = field(default_factory=list)
    start: list[Command] = field(default_factory=list)


def check_node_name(node: str) -> str:
    if not NODE_NAME.fullmatch(node):
        raise DeployError(f"{node!r} is not a node name: lower-case letters, digits and '-', as "
                          "in the inventory (alpha, beta, gamma).")
    return node


def processes(role: str, node: str, paths: Paths, *, control_concurrency: int = 8,
              logs: bool = True) -> list[Process]:
    """What `role` runs on node `node`, as the Procfile and README's architecture say."""
    if role not in ROLES:
        raise DeployError(f"The role is master or node, not {role!r}.")
    check_node_name(node)
    python = str(paths.python)
    celery = (python, "-m", "celery", "-A", "arthur_panel")
    control = ("-n", "control@%h", "--pool", "threads", "--concurrency",
               str(control_concurrency), "--loglevel", "INFO")
    if role == MASTER:
        # With WORKER_NODES=<node>, each lane's worker also takes the master's own node queue.
        found = [
            Process("web", "web server", (python, "-m", "arthur_panel.web")),
            Process("worker", "bulk worker", (*celery, "worker", "--loglevel", "INFO")),
            Process("control", "control worker", (*celery, "worker", "-Q", "control", *control)),
            Process("beat", "Celery beat", (*celery, "beat", "--loglevel", "INFO")),
        ]
    else:
        found = [
            Process("worker", "bulk worker", (*celery, "worker", "-Q", f"node.{node}",
                                              "--loglevel", "INFO")),
            Process("control", "control worker", (*celery, "worker", "-Q",
                                                  f"node.{node}.control", *control)),
        ]
    if logs:
        found.append(Process("logs", "exo log follower", (python, str(paths.root / "manage.py"),
                                                          "follow_logs", "--node", node)))
    return found


def service_environment(node: str, given: Mapping[str, str], paths: Paths) -> dict[str, str]:
    """The services' environment: the panel's variables set in `given` (the install's own
    environment), this node's queues, the var directory, and the virtualenv first on PATH."""
    if missing := [name for name in REQUIRED if not given.get(name)]:
        raise DeployError(f"Set {' and '.join(missing)} before installing: every machine uses "
                          "the master's PostgreSQL and Redis (README, Deploying on the cluster).")
    env = {name: given[name] for name in (*PASSED_ON, *SYSTEM) if given.get(name)}
    env["PATH"] = ":".join([str(paths.python.parent),
                            *(given.get("PATH") or "/usr/bin:/bin:/usr/sbin:/sbin").split(":")])
    env.update(WORKER_NODES=node, ARTHUR_VAR_DIR=str(paths.var_dir), PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="arthur_panel.settings")
    for name, value in env.items():
        if "\n" in value or "\0" in value:
            raise DeployError(f"{name} holds a line break, which no service file can carry.")
    return dict(sorted(env.items()))


# --- launchd ---------------------------------------------------------------------------------

def label(process: Process) -> str:
    return LABEL_PREFIX + process.name


def plist_path(paths: Paths, name: str) -> Path:
    return paths.launch_agents / f"{LABEL_PREFIX}{name}.plist"


def launchd_plist(process: Process, paths: Paths, env: Mapping[str, str]) -> bytes:
    """The agent: started at login, started again after a crash (not after a clean exit), its
    output in ~/Library/Logs/arthur-panel/<process>.log."""
    log = str(paths.log_dir / f"{process.name}.log")
    return plistlib.dumps({
        "Label": label(process),
        "ProgramArguments": list(process.argv),
        "WorkingDirectory": str(paths.root),
        "EnvironmentVariables": dict(env),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SECONDS,
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }, fmt=plistlib.FMT_XML, sort_keys=False)


# --- systemd ---------------------------------------------------------------------------------

def unit_name(name: str) -> str:
    return f"{UNIT_PREFIX}{name}.service"


def unit_path(paths: Paths, name: str) -> Path:
    return paths.systemd_dir / unit_name(name)


def systemd_escape(text: str) -> str:
    """A value systemd takes literally: `%` starts a specifier (`%h` is the home directory),
    `$` a variable."""
    return text.replace("%", "%%").replace("$", "$$")


def exec_argument(argument: str) -> str:
    """One ExecStart argument, quoted as systemd splits the line."""
    escaped = systemd_escape(argument)
    if escaped and not re.search(r"[\s\"'\\;]", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(process: Process, paths: Paths, node: str) -> str:
    """The user unit: started at boot (with lingering) or login, again after a failure, its
    environment from the env file."""
    return "\n".join([
        "[Unit]",
        f"Description=ARTHUR Panel {process.description} ({node})",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={systemd_escape(str(paths.root))}",
        f"EnvironmentFile={systemd_escape(str(paths.env_file))}",
        "ExecStart=" + " ".join(exec_argument(arg) for arg in process.argv),
        "Restart=on-failure",
        f"RestartSec={RESTART_SECONDS}",
        # Celery finishes its running tasks on SIGTERM; downloads resume where they stopped.
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


# --- the env file ----------------------------------------------------------------------------

def env_value(value: str) -> str:
    """Double-quoted as both a POSIX shell and systemd's EnvironmentFile read it."""
    return '"' + re.sub(r'(["\\$`])', r"\\\1", value) + '"'


def env_file(env: Mapping[str, str], command: str) -> str:
    return "".join([f"# ARTHUR Panel services' environment, written by `{command}`.\n",
                    "# Mode 0600: it holds the Redis and database passwords.\n",
                    *(f"{name}={env_value(value)}\n" for name, value in env.items())])


# --- plans -----------------------------------------------------------------------------------

def _domain(uid: int) -> str:
    return f"gui/{uid}"


def install_plan(platform: str, *, uid: int, paths: Paths, procs: list[Process],
                 env: Mapping[str, str], installed: Iterable[str], command: str) -> Plan:
    """Replace whatever ARTHUR Panel services this user has (`installed`: their process names)
    with `procs`: stop them, remove those not wanted any more, write the files, start all."""
    wanted = [p.name for p in procs]
    installed = list(installed)
    stale = [name for name in installed if name not in wanted]
    env_entry = ServiceFile(paths.env_file, env_file(env, command).encode(), SECRET_MODE)
    if platform == LAUNCHD:
        domain = _domain(uid)
        return Plan(
            stop=[Command(("launchctl", "bootout", f"{domain}/{LABEL_PREFIX}{name}"), True)
                  for name in [*wanted, *stale]],
            remove=[plist_path(paths, name) for name in stale],
            write=[env_entry, *(ServiceFile(plist_path(paths, p.name),
                                            launchd_plist(p, paths, env), SECRET_MODE)
                                for p in procs)],
            start=[command_ for p in procs for command_ in (
                Command(("launchctl", "enable", f"{domain}/{label(p)}")),
                Command(("launchctl", "bootstrap", domain, str(plist_path(paths, p.name)))))])
    node = env["WORKER_NODES"]
    units = [unit_name(name) for name in wanted]
    again = [unit_name(name) for name in wanted if name in installed]
    return Plan(
        stop=[Command(("systemctl", "--user", "disable", "--now",
                       *(unit_name(name) for name in stale)), True)] if stale else [],
        remove=[unit_path(paths, name) for name in stale],
        write=[env_entry, *(ServiceFile(unit_path(paths, p.name),
                                        systemd_unit(p, paths, node).encode(), PUBLIC_MODE)
                            for p in procs)],
        start=[Command(("systemctl", "--user", "daemon-reload")),
               Command(("systemctl", "--user", "enable", "--now", *units)),
               # Running ones keep their old code and environment until restarted.
               *([Command(("systemctl", "--user", "restart", *again))] if again else [])])


def uninstall_plan(platform: str, *, uid: int, paths: Paths, installed: list[str]) -> Plan:
    remove = [paths.env_file]
    if platform == LAUNCHD:
        return Plan(stop=[Command(("launchctl", "bootout", f"{_domain(uid)}/{LABEL_PREFIX}{n}"),
                                  True) for n in installed],
                    remove=[*(plist_path(paths, n) for n in installed), *remove])
    units = [unit_name(name) for name in installed]
    return Plan(stop=[Command(("systemctl", "--user", "disable", "--now", *units), True)]
                if units else [],
                remove=[*(unit_path(paths, n) for n in installed), *remove],
                start=[Command(("systemctl", "--user", "daemon-reload"))] if units else [])


def status_command(platform: str, *, uid: int, name: str) -> tuple[str, ...]:
    if platform == LAUNCHD:
        return ("launchctl", "print", f"{_domain(uid)}/{LABEL_PREFIX}{name}")
    return ("systemctl", "--user", "show", unit_name(name), "--property",
            "LoadState,ActiveState,SubState,MainPID,ExecMainStatus,NRestarts,UnitFileState")


@dataclass(frozen=True)
class ServiceState:
    name: str
    state: str  # running, not running, failed, not loaded, ...
    pid: int | None = None
    last_exit: str = ""
    detail: str = ""


def launchd_state(name: str, returncode: int, output: str) -> ServiceState:
    """From `launchctl print`'s service block: its own `state`, `pid` and `last exit code`
    (never anything else it prints: the environment is there too)."""
    if returncode != 0:
        return ServiceState(name, "not loaded", detail="launchctl knows no such service")
    fields: dict[str, str] = {}
    for match in re.finditer(r"^\t?(state|pid|last exit code) = (.+)$", output, re.M):
        fields.setdefault(match.group(1), match.group(2).strip())
    pid = fields.get("pid", "")
    return ServiceState(name, fields.get("state", "unknown"),
                        int(pid) if pid.isdigit() else None, fields.get("last exit code", ""))


def systemd_state(name: str, returncode: int, output: str) -> ServiceState:
    """From `systemctl --user show --property ...`."""
    fields = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    if returncode != 0 or fields.get("LoadState") in (None, "not-found"):
        return ServiceState(name, "not loaded", detail="systemd knows no such unit")
    pid = fields.get("MainPID", "0")
    state = fields.get("ActiveState", "unknown")
    if fields.get("SubState") and fields["SubState"] != state:
        state += f" ({fields['SubState']})"
    detail = ", ".join(part for part in (
        fields.get("UnitFileState", ""),
        f"{fields['NRestarts']} restart(s)" if fields.get("NRestarts", "0") != "0" else "")
        if part)
    return ServiceState(name, state, int(pid) if pid.isdigit() and pid != "0" else None,
                        fields.get("ExecMainStatus", ""), detail)


# --- showing a plan --------------------------------------------------------------------------

def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` fit to print: passwords in URLs and the values of secret-named variables hidden."""
    return {name: "****" if SECRET_NAMES.search(name) else URL_PASSWORD.sub(r"\1****\3", value)
            for name, value in env.items()}


def shown(argv: Iterable[str]) -> str:
    return shlex.join(argv)
