"""``python -m simulators.exo.node``: one node's exo process, played against the simulator.

Started the way exo is started (by hand, by a start script, or by a panel's start job), it holds
exo's PID lock, prints exo-like start-up lines, brings its node up in a simulator started with
``--stopped`` (through ``/_sim/nodes/<name>/revive``), and drops the node again on SIGINT or
SIGTERM. A master (no ``--join``) prints the bootstrap command the other nodes join with. It exits
by itself when the simulator stops answering or drops its node, so none outlives the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from .logs import format_line

# The exo release whose API the simulator speaks.
VERSION = "1.0.71"
NAME_ENV = "EXO_SIM_NODE"
PID_FILE_ENV = "EXO_SIM_PID_FILE"
CONNECT_SECONDS = 10.0


def say(kind: str, message: str, level: str = "INFO") -> None:
    print(format_line(kind, message, level), flush=True)


class AlreadyRunning(Exception):
    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.pid = pid


class PidLock:
    """exo's one-process-per-machine lock: a file holding the running process's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def acquire(self) -> None:
        try:
            holder = int(self.path.read_text().strip())
        except (OSError, ValueError):
            holder = 0
        if holder and holder != os.getpid() and _alive(holder):
            raise AlreadyRunning(holder)
        # A lock left by a process that died is taken over, as exo does.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        try:
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.exo.node",
        description="Play one node's exo process against an exo simulator started with "
                    "--stopped: up while this runs, down when it gets SIGINT or SIGTERM.",
    )
    parser.add_argument("--api", required=True,
                        help="the simulator's URL, e.g. http://127.0.0.1:52415")
    parser.add_argument("--name", default=os.environ.get(NAME_ENV),
                        help=f"the node's friendly name, e.g. ALPHA (default: ${NAME_ENV})")
    parser.add_argument("--pid-file", type=Path,
                        default=Path(os.environ.get(PID_FILE_ENV) or "~/.exo/exo.pid"),
                        help=f"exo's PID lock (default: ${PID_FILE_ENV}, else ~/.exo/exo.pid)")
    parser.add_argument("--join", action="store_true",
                        help="join the running master (what the master's bootstrap command says)")
    parser.add_argument("--poll", type=float, default=1.0,
                        help="seconds between checks that the simulator still answers")
    parser.add_argument("--give-up", type=int, default=3, metavar="N",
                        help="exit after N failed checks in a row")
    return parser


def bootstrap_command(api: str) -> str:
    """What a master prints for the other nodes, each of which adds its own name (--name or
    $EXO_SIM_NODE)."""
    return shlex.join([sys.executable, "-m", "simulators.exo.node", "--api", api, "--join"])


class Agent:
    def __init__(self, args: argparse.Namespace, http: httpx.Client) -> None:
        self.args = args
        self.http = http
        self.name: str = args.name
        self.stopping = threading.Event()
        self.signal_name = ""

    def on_signal(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        self.stopping.set()

    def overview(self) -> dict[str, Any]:
        response = self.http.get("/_sim")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait_for_simulator(self) -> dict[str, Any] | None:
        """The simulator's overview, once it answers; None if it does not within a few seconds."""
        deadline = time.monotonic() + CONNECT_SECONDS
        while not self.stopping.is_set():
            try:
                return self.overview()
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    return None
                self.stopping.wait(0.2)
        return None

    def start(self) -> int:
        overview = self.wait_for_simulator()
        if self.stopping.is_set():
            return 0
        if overview is None:
            say("main", f"exo simulator at {self.args.api} is not answering", "ERROR")
            return 1
        alive = [node for node in overview["nodes"] if node["alive"]]
        if self.args.join and not alive:
            say("main", f"No exo master to join at {self.args.api}", "ERROR")
            return 1
        if not self.args.join:
            say("main", f"Bootstrap command: {bootstrap_command(self.args.api)}")
        response = self.http.post(f"/_sim/nodes/{self.name}/revive")
        if response.status_code != 200:
            say("main", f"Cannot start {self.name}: {_message(response)}", "ERROR")
            return 1
        mine = [n for n in response.json()["nodes"] if n["name"].lower() == self.name.lower()]
        node_id = mine[-1]["node_id"]
        say("main", f"Starting node {node_id}")
        if alive:
            say("election", f"Node {alive[0]['node_id']} elected master")
        else:
            say("election", "Node elected Master")
        return self.watch(node_id)

    def watch(self, node_id: str) -> int:
        failures = 0
        while not self.stopping.wait(self.args.poll):
            try:
                nodes = self.overview()["nodes"]
            except httpx.HTTPError:
                failures += 1
                if failures >= self.args.give_up:
                    say("main", f"exo simulator at {self.args.api} stopped answering; "
                        "shutting down", "WARNING")
                    return 1
                continue
            failures = 0
            if not any(n["node_id"] == node_id and n["alive"] for n in nodes):
                say("main", f"Node {node_id} was stopped in the simulator; shutting down",
                    "WARNING")
                return 1
        say("main", f"Received {self.signal_name}, shutting down")
        # If the simulator is gone, so is the node.
        with contextlib.suppress(httpx.HTTPError):
            self.http.post(f"/_sim/nodes/{self.name}/drop")
        say("main", "EXO Shutdown complete")
        return 0


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.name:
        parser.error(f"give the node's name with --name or ${NAME_ENV}")
    with httpx.Client(base_url=args.api.rstrip("/"), timeout=5) as http:
        agent = Agent(args, http)
        # Installed first: a stop that arrives during start-up still drops the node cleanly.
        signal.signal(signal.SIGINT, agent.on_signal)
        signal.signal(signal.SIGTERM, agent.on_signal)
        say("main", "Starting EXO")
        say("main", f"exo version {VERSION} (simulated {args.name})")
        say("main", f"pid = {os.getpid()}")
        lock = PidLock(args.pid_file.expanduser())
        try:
            lock.acquire()
        except AlreadyRunning as running:
            say("main", f"exo is already running (pid {running.pid}, lock {lock.path})", "ERROR")
            return 1
        try:
            return agent.start()
        finally:
            lock.release()


if __name__ == "__main__":
    sys.exit(main())
