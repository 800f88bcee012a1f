"""`make run`'s process group, kept alive: honcho's Manager starts the processes and multiplexes
their output; where it stops the whole group when one process ends, this one starts that
process again after a growing pause, says so in the output, and keeps a status file that the
doctor (the Health page) reads. Ctrl-C still stops everything, the processes marked
`stop_last` (the private Redis) once the others have: the workers hand back the messages they
had not started and the web server settles its streams in Redis as they stop."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import queue
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from honcho.manager import KILL_WAIT, SIGNALS, Manager

STATUS_FILE = "processes.json"
FIRST_DELAY, MAX_DELAY = 1.0, 30.0
# A process up this long has recovered: its next failure is restarted quickly again.
STABLE_SECONDS = 60.0


def restart_delay(quick_failures: int, *, first: float = FIRST_DELAY) -> float:
    """Seconds before starting again a process that has ended `quick_failures` times in a row
    without staying up STABLE_SECONDS: 1, 2, 4, ... up to MAX_DELAY."""
    return min(MAX_DELAY, first * 2 ** max(0, quick_failures - 1))


@dataclass
class ProcessStatus:
    """One process of the group, as the status file gives it (times: Unix seconds)."""

    pid: int | None = None
    state: str = "starting"  # running, restarting or stopped
    started_at: float | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    next_start_at: float | None = None
    quick_failures: int = 0


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file (the supervisor's pid, and each process as ProcessStatus gives it), or
    None when there is none: not run by `make run`."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("processes"), dict):
        return None
    return document


class Supervisor(Manager):
    def __init__(self, status_path: Path, *, first_delay: float = FIRST_DELAY) -> None:
        super().__init__()
        self._status_path = status_path
        self._first_delay = first_delay
        self._status: dict[str, ProcessStatus] = {}
        self._due: dict[str, float] = {}  # name -> when (time.time()) to start it again
        self._last: set[str] = set()  # stopped once every other process has
        self._told_to_stop: set[str] = set()

    def add_process(self, name: str, cmd: str, quiet: bool = False,
                    env: dict[str, str] | None = None, cwd: str | None = None, *,
                    stop_last: bool = False) -> Any:
        self._status[name] = ProcessStatus()
        if stop_last:
            self._last.add(name)
        return super().add_process(name, cmd, quiet=quiet, env=env, cwd=cwd)

    def terminate(self) -> None:
        self._terminating = True
        self._stop_next()

    def _stop_next(self) -> None:
        """SIGTERM, once, to each process still running: those marked `stop_last` once no other
        runs."""
        running = {name: process["pid"] for name, process in self._processes.items()
                   if "returncode" not in process and process.get("pid") is not None}
        others_run = any(name not in self._last for name in running)
        for name, pid in running.items():
            if name in self._told_to_stop or (name in self._last and others_run):
                continue
            self._told_to_stop.add(name)
            self._system_print(f"sending SIGTERM to {name} (pid {pid})\n")
            self._procmgr.terminate(pid)

    def loop(self) -> None:
        """Run until Ctrl-C (or SIGTERM), restarting what ends meanwhile."""
        def stop(signum: int, frame: Any) -> None:
            self._system_print(f"{SIGNALS[signum]['name']} received\n")
            self.returncode = SIGNALS[signum]["rc"]
            self.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self._start()
        stopping_since: float | None = None
        while True:
            try:
                message = self.events.get(timeout=0.1)
            except queue.Empty:
                message = None
            if message is not None:
                self._handle(message)
            if self._terminating:
                stopping_since = stopping_since or time.monotonic()
                if all("returncode" in p for p in self._processes.values()):
                    break
                self._stop_next()
                if time.monotonic() - stopping_since > KILL_WAIT:
                    self.kill()
            else:
                self._restart_due()
        # Nothing runs any more: no status to read.
        self._status_path.unlink(missing_ok=True)

    def _handle(self, message: Any) -> None:
        if message.type == "line":
            self._printer.write(message)
            return
        status = self._status[message.name]
        if message.type == "start":
            pid = self._processes[message.name]["pid"] = message.data["pid"]
            status.pid, status.state, status.started_at = pid, "running", time.time()
            status.next_start_at = None
            self._system_print(f"{message.name} started (pid={pid})\n")
            self._write_status()
        elif message.type == "stop":
            self._stopped(message.name, status, message.data["returncode"])

    def _stopped(self, name: str, status: ProcessStatus, code: int) -> None:
        self._processes[name]["returncode"] = code
        now = time.time()
        status.last_exit_code, status.last_exit_at = code, now
        if self._terminating:
            status.state = "stopped"
            self._system_print(f"{name} stopped (rc={code})\n")
        else:
            # What the process left behind in its session (a worker's pool children) goes too:
            # two of them would share its queue.
            self._procmgr.kill(status.pid)
            stable = status.started_at is not None and now - status.started_at >= STABLE_SECONDS
            status.quick_failures = 1 if stable else status.quick_failures + 1
            delay = restart_delay(status.quick_failures, first=self._first_delay)
            status.state, status.next_start_at = "restarting", now + delay
            self._due[name] = now + delay
            self._system_print(f"{name} ended (rc={code}); starting it again in {delay:g} s\n")
        self._write_status()

    def _restart_due(self) -> None:
        now = time.time()
        for name in [name for name, when in self._due.items() if when <= now]:
            del self._due[name]
            process = self._processes[name]
            del process["returncode"]
            process["pid"] = None
            self._status[name].restarts += 1
            self._start_one(name)

    def _start(self) -> None:
        for name in self._processes:
            self._start_one(name)

    def _start_one(self, name: str) -> None:
        process = self._processes[name]
        process["process"] = multiprocessing.Process(name=name, target=process["obj"].run,
                                                     args=(self.events, True))
        process["process"].start()

    def _write_status(self) -> None:
        """Written whole and renamed into place: a reader never sees half of it."""
        document = {"supervisor_pid": os.getpid(),
                    "written_at": datetime.datetime.now(datetime.UTC).isoformat(),
                    "processes": {name: asdict(status) for name, status in self._status.items()}}
        self._status_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._status_path.with_name(f".{self._status_path.name}.partial")
        partial.write_text(json.dumps(document, indent=1))
        os.replace(partial, self._status_path)
