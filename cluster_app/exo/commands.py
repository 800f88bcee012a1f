"""Run a command without a shell, with a deadline, handing over each output line as it comes.

The command gets a session of its own, and whatever way it ends (its own exit, the deadline, a
cancel raised from `check`), its whole process group is stopped: nothing it started is left.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import IO

import psutil

POLL_SECONDS = 0.25
TERM_GRACE_SECONDS = 3.0
GROUP_POLL_SECONDS = 0.05


class CommandTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s and was stopped")
        self.seconds = seconds


def run_streamed(argv: Sequence[str], *, timeout: float, on_line: Callable[[str], None],
                 check: Callable[[], None] = lambda: None, cwd: str | None = None,
                 env: dict[str, str] | None = None) -> int:
    """Run `argv`, calling `on_line` for each line of its output (stdout and stderr) and `check`
    at least every POLL_SECONDS (it may raise to stop the command). Returns the exit status;
    raises CommandTimeout after `timeout` seconds."""
    # stdin stays an open pipe nobody writes to: a closed one reads as endless end-of-file,
    # which programs that watch their stdin (mlx.launch does) would spin on.
    process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True,
                              name=f"output-{process.pid}")
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while (line := _next_line(lines, deadline, timeout, check)) is not None:
            on_line(line)
            check()
        # The output closed: the command is ending.
        while process.poll() is None:
            if time.monotonic() >= deadline:
                raise CommandTimeout(timeout)
            check()
            time.sleep(min(POLL_SECONDS / 5, max(deadline - time.monotonic(), 0)))
        return process.returncode
    finally:
        stop_group(process)
        reader.join(timeout=TERM_GRACE_SECONDS)
        if process.stdin:
            process.stdin.close()


def _next_line(lines: queue.Queue[str | None], deadline: float, timeout: float,
               check: Callable[[], None]) -> str | None:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CommandTimeout(timeout)
        try:
            return lines.get(timeout=min(left, POLL_SECONDS))
        except queue.Empty:
            check()


def _pump(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    try:
        for raw in stream:
            lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
    finally:
        stream.close()
        lines.put(None)


def stop_group(process: subprocess.Popen[bytes],
               signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGKILL)) -> int:
    """Send the command's process group each of `signals` in turn, the next only if something
    of it still runs after a grace period; returns the command's exit status once nothing of it
    runs (or the last grace ran out)."""
    for sig in signals:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        if _group_ends(process, TERM_GRACE_SECONDS):
            break
    return process.wait()


def _group_ends(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait until no process of the group runs; False if some still do after `seconds`.
    Signals arrive asynchronously: a member may run on for a moment after killpg returns."""
    deadline = time.monotonic() + seconds
    while True:
        process.poll()  # reap the command itself
        if not group_members(process.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(GROUP_POLL_SECONDS)


def group_members(pgid: int, since: float = 0.0) -> list[psutil.Process]:
    """The running processes of the group `pgid` started at `since` (epoch seconds) or later:
    once its processes are gone, a recycled group id names other programs, started after."""
    members = []
    for member in psutil.process_iter(["status", "create_time"]):
        try:
            if (os.getpgid(member.pid) == pgid and member.info["status"] != psutil.STATUS_ZOMBIE
                    and member.info["create_time"] >= since):
                members.append(member)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def kill_members(pgid: int, since: float) -> None:
    """SIGKILL what runs of the group `pgid` started at `since` or later (see group_members),
    each process by its own pid, and wait until it has gone; for a group whose leader may have
    exited, and whose id may be another group's by now."""
    members = group_members(pgid, since)
    for member in members:
        with suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(members, timeout=TERM_GRACE_SECONDS)
