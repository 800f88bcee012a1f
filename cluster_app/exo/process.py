"""exo's process on this machine: start a command without a shell, read the process's status
from exo's PID lock, stop it with SIGINT, then SIGTERM, then SIGKILL.

Runs in the node's own worker. Commands come from the Node row (set by admins) or from the
master's captured bootstrap line, never from a request.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psutil

from cluster_app.exo.commands import group_members, kill_members, stop_group
from cluster_app.exo.rules import expand_home, parse_version
from cluster_app.models import Node

logger = logging.getLogger(__name__)

# After SIGTERM, and again after SIGKILL: how long to wait before the next step.
KILL_WAIT = 5.0
POLL = 0.05
# How much of the end of the start output is searched for the version line.
CONSOLE_SCAN_BYTES = 256 * 1024
# A pid file written this long before its process started belongs to an earlier process
# whose pid was reused.
PID_REUSE_SLACK = 1.0


@dataclass(frozen=True)
class ExoStatus:
    running: bool
    pid: int | None = None
    started_at: datetime | None = None
    version: str = ""
    note: str = ""  # why it counts as not running, when there is a pid file


def home() -> str:
    return str(Path.home())


def pid_file(node: Node) -> Path:
    return Path(expand_home(node.exo_pid_file, home()))


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def locked_process(node: Node) -> tuple[psutil.Process | None, str]:
    """The live process holding exo's PID lock, or None and why not."""
    path = pid_file(node)
    try:
        text = path.read_text().strip()
        written = path.stat().st_mtime
    except FileNotFoundError:
        return None, ""
    except OSError as error:
        return None, f"cannot read {path}: {error.strerror}"
    if not text.isdigit():
        return None, f"{path} holds no pid"
    pid = int(text)
    try:
        process = psutil.Process(pid)
        created = process.create_time()
    except psutil.NoSuchProcess:
        return None, f"stale pid file: pid {pid} is gone"
    if _gone(process):
        return None, f"stale pid file: pid {pid} has exited"
    if created > written + PID_REUSE_SLACK:
        return None, f"stale pid file: pid {pid} now belongs to another program"
    return process, ""


def console_lines(node: Node) -> list[str]:
    """The last lines of the node's start output (its end only: the file grows for ever)."""
    try:
        with node.console_log_path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - CONSOLE_SCAN_BYTES))
            return handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def status(node: Node) -> ExoStatus:
    """Running or not (from exo's PID lock), since when, and the version the start output named
    last (see exo_rules.VERSION_LINE)."""
    process, note = locked_process(node)
    version = parse_version(console_lines(node))
    if process is None:
        return ExoStatus(running=False, version=version, note=note)
    started = datetime.fromtimestamp(process.create_time(), tz=UTC)
    return ExoStatus(running=True, pid=process.pid, started_at=started, version=version)


class ConsoleTail:
    """New complete lines of the start output since this was made, or since `offset` (the file
    is appended to)."""

    def __init__(self, path: Path, offset: int | None = None) -> None:
        self.path = path
        if offset is None:
            offset = path.stat().st_size if path.exists() else 0
        self.offset = offset
        self._partial = b""

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        return [line.decode("utf-8", "replace").rstrip("\r") for line in complete]


def start(node: Node, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run `argv` in a session of its own (it outlives the worker), output appended to the
    node's console log; RuntimeError if it cannot be run at all."""
    path = node.console_log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as console:
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console,
                                    stderr=subprocess.STDOUT, env=env, cwd=home(),
                                    start_new_session=True)
        except OSError as error:
            raise RuntimeError(f"cannot run {argv[0]}: {error.strerror or error}") from None


def reap_later(process: subprocess.Popen[bytes]) -> None:
    """Collect the exit status whenever the process ends, so it never lingers as a zombie."""
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()


def kill_group(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL the command and everything in its process group (a start given up on: nothing to
    shut down gently); returns its exit code."""
    return stop_group(process, signals=(signal.SIGKILL,))


class Started(Protocol):
    """exo as a start job set it going: the command this worker ran, or what an earlier attempt
    of the job left running."""

    pid: int  # the start command's, which leads its own process group

    def failure(self, node: Node) -> str | None:
        """How it ended, if that means exo is not coming up; None while it may."""

    def kill(self) -> None:
        """SIGKILL all of it (a start given up on: nothing to shut down gently)."""

    def release(self) -> None:
        """Leave it running, as the node's exo."""


class StartCommand:
    """The start command this worker ran."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.pid = process.pid

    def failure(self, node: Node) -> str | None:
        code = self.process.poll()
        # A launcher script may exit 0 once exo runs on its own, holding its PID lock.
        if code is not None and (code != 0 or locked_process(node)[0] is None):
            return f"exited with code {code}"
        return None

    def kill(self) -> None:
        kill_group(self.process)

    def release(self) -> None:
        reap_later(self.process)


class EarlierStart:
    """What the start command of an earlier attempt of the same job left running when that
    attempt's worker died: its process group's members started since the command ran (a
    recycled group id names older programs). Not this worker's child: watched and ended
    through psutil, and its exit code is not known here."""

    def __init__(self, pgid: int, since: float) -> None:
        self.pid = pgid
        self.since = since

    def failure(self, node: Node) -> str | None:
        if group_members(self.pid, self.since) or locked_process(node)[0] is not None:
            return None
        return "ended"

    def kill(self) -> None:
        kill_members(self.pid, self.since)

    def release(self) -> None:
        pass  # nothing to reap: its parent was the worker that died


def earlier_start(node: Node, kept: Mapping[str, Any]) -> EarlierStart | None:
    """What an earlier attempt of a start job set going, if it still runs. `kept` is what that
    attempt kept on the job: `at`, when it ran the command (epoch seconds), and the command's
    `pid`; exo holding the PID lock since then counts too (the attempt may have died before it
    kept the pid). None when nothing of it runs."""
    at = kept.get("at")
    if not isinstance(at, int | float):
        return None
    since = at - PID_REUSE_SLACK
    pid = kept.get("pid")
    if isinstance(pid, int) and group_members(pid, since):
        return EarlierStart(pid, since)
    holder, _ = locked_process(node)
    try:
        if holder is None or holder.create_time() < since:
            return None
        group = os.getpgid(holder.pid)
    except (psutil.Error, ProcessLookupError):
        return None
    # exo started by hand from this worker's own terminal shares its group: not the job's.
    return EarlierStart(group, since) if group != os.getpgrp() else None


def wait_gone(process: psutil.Process, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not _gone(process):
        if time.monotonic() >= deadline:
            return False
        with suppress(psutil.TimeoutExpired, psutil.NoSuchProcess, ChildProcessError):
            process.wait(POLL)  # reaps it if it is this worker's child
    return True


def stop(node: Node, grace: float, log: Callable[[str], None]) -> bool:
    """Stop exo: SIGINT to its process group, SIGTERM after `grace` seconds, SIGKILL after a
    further short wait. Returns False if it was not running (a stale pid file included)."""
    process, note = locked_process(node)
    if process is None:
        log(f"exo is not running on {node}" + (f" ({note})" if note else ""))
        return False
    pid = process.pid
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return True
    # exo started by hand from the worker's own terminal shares the worker's group: signal only it.
    own_group = group == os.getpgrp()
    target = f"exo (pid {pid})" if own_group else f"exo's process group {group}"
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, KILL_WAIT),
                      (signal.SIGKILL, KILL_WAIT)):
        log(f"sending {sig.name} to {target}")
        try:
            if own_group:
                os.kill(pid, sig)
            else:
                os.killpg(group, sig)
        except ProcessLookupError:
            return True
        if wait_gone(process, wait):
            log(f"exo (pid {pid}) exited after {sig.name}")
            return True
        log(f"exo (pid {pid}) still running {wait:g} s after {sig.name}")
    raise RuntimeError(f"exo (pid {pid}) survived SIGKILL")
