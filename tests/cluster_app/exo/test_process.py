"""exo's process on a node, with real processes: start without a shell, status from the PID
lock, stop by SIGINT, then SIGTERM, then SIGKILL; and the status its worker writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import psutil
import pytest

from arthur_panel.celery import app as celery_app
from cluster_app.exo import node_jobs
from cluster_app.exo import process as exo_process
from cluster_app.models import Node
from tests.stack import wait_until

# A stand-in for exo: takes its PID lock, says its version, ignores the signals named in its
# arguments.
FAKE_EXO = """
import os, signal, sys, time
for name in sys.argv[2:]:
    if name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
with open(sys.argv[1], "w") as lock:
    lock.write(str(os.getpid()))
print("args:", sys.argv[2:], "stdin:", os.readlink("/proc/self/fd/0"), flush=True)
print("exo version 1.0.71", flush=True)
time.sleep(60)
"""


@pytest.fixture
def node(tmp_path: Path, settings: Any) -> Node:
    settings.VAR_DIR = tmp_path / "var"
    return Node(name="alpha", display_name="ALPHA", exo_pid_file=str(tmp_path / "exo.pid"))


def fake_exo(node: Node, *args: str) -> subprocess.Popen[bytes]:
    process = exo_process.start(node, [sys.executable, "-c", FAKE_EXO, node.exo_pid_file, *args],
                                {"PATH": os.environ["PATH"]})
    wait_until(lambda: exo_process.status(node).running, timeout=10)
    return process


def test_start_runs_the_argument_list_without_a_shell_in_a_session_of_its_own(node):
    node.console_log_path.parent.mkdir(parents=True)
    node.console_log_path.write_text("an earlier start\n")
    process = fake_exo(node, "$(touch pwned);")  # a shell would run this; exo gets it as text
    try:
        assert os.getsid(process.pid) == process.pid and os.getpgid(process.pid) == process.pid
        log = node.console_log_path
        output = wait_until(lambda: "version" in (text := log.read_text()) and text)
        assert output.startswith("an earlier start\n")  # appended to
        assert "args: ['$(touch pwned);'] stdin: /dev/null" in output
        assert not Path(exo_process.home(), "pwned").exists()
    finally:
        exo_process.kill_group(process)


def test_a_command_that_cannot_run_says_so(node):
    with pytest.raises(RuntimeError, match="cannot run /no/such/exo: No such file"):
        exo_process.start(node, ["/no/such/exo"], {})


def test_status_reads_exos_pid_lock_and_the_version_from_the_start_output(node):
    assert exo_process.status(node) == exo_process.ExoStatus(running=False)
    process = fake_exo(node)
    try:
        status = wait_until(lambda: (s := exo_process.status(node)).version and s)
        assert status.running and status.pid == process.pid and status.version == "1.0.71"
        assert abs(status.started_at.timestamp() - psutil.Process(process.pid).create_time()) < 0.01
    finally:
        exo_process.kill_group(process)
    after = exo_process.status(node)
    assert not after.running and after.pid is None and after.version == "1.0.71"
    assert after.note == f"stale pid file: pid {process.pid} is gone"


def test_a_pid_file_older_than_its_process_is_a_reused_pid(node):
    path = Path(node.exo_pid_file)
    path.write_text(str(os.getpid()))  # a live process that is not the one that wrote the lock
    written = psutil.Process().create_time() - 60
    os.utime(path, (written, written))
    status = exo_process.status(node)
    assert not status.running and "now belongs to another program" in status.note


@pytest.mark.parametrize("ignored, last", [((), "SIGINT"), (("SIGINT",), "SIGTERM"),
                                           (("SIGINT", "SIGTERM"), "SIGKILL")])
def test_stop_goes_from_sigint_to_sigterm_to_sigkill(node, monkeypatch, ignored, last):
    monkeypatch.setattr(exo_process, "KILL_WAIT", 0.3)
    process = fake_exo(node, *ignored)
    exo_process.reap_later(process)
    log: list[str] = []
    assert exo_process.stop(node, 0.3, log.append) is True
    order = ["SIGINT", "SIGTERM", "SIGKILL"]
    expected = []
    for step in order[: order.index(last) + 1]:
        expected.append(f"sending {step} to exo's process group {process.pid}")
        if step != last:
            expected.append(f"exo (pid {process.pid}) still running 0.3 s after {step}")
    assert log == [*expected, f"exo (pid {process.pid}) exited after {last}"]
    assert not exo_process.status(node).running


def test_stopping_with_a_stale_pid_file_is_not_an_error(node):
    Path(node.exo_pid_file).write_text("999999999")
    log: list[str] = []
    assert exo_process.stop(node, 1, log.append) is False
    assert log == ["exo is not running on ALPHA (stale pid file: pid 999999999 is gone)"]


def test_the_console_tail_gives_complete_new_lines(tmp_path):
    path = tmp_path / "console.log"
    path.write_text("before\n")
    tail = exo_process.ConsoleTail(path)
    assert tail.lines() == []
    with path.open("a") as handle:
        handle.write("one\ntw")
    assert tail.lines() == ["one"]
    with path.open("a") as handle:
        handle.write("o\r\n")
    assert tail.lines() == ["two"]


@pytest.fixture
def alpha(nodes: dict[str, Node], tmp_path: Path, settings: Any) -> Node:
    """ALPHA, its exo's PID lock and output in this test's folder."""
    settings.VAR_DIR = tmp_path / "var"
    Node.objects.filter(name="alpha").update(exo_pid_file=str(tmp_path / "exo.pid"))
    return Node.objects.get(name="alpha")


@pytest.mark.django_db
def test_the_worker_writes_the_process_fields_to_the_node(alpha):
    process = fake_exo(alpha)
    try:
        wait_until(lambda: exo_process.status(alpha).version)
        node_jobs.exo_status_refresh(node_name="alpha")
        alpha.refresh_from_db()
        assert alpha.exo_pid == process.pid and alpha.exo_version == "1.0.71"
        assert alpha.exo_started_at is not None and alpha.exo_checked_at is not None
    finally:
        exo_process.kill_group(process)
    node_jobs.exo_status_refresh(node_name="alpha")
    alpha.refresh_from_db()
    assert alpha.exo_pid is None and alpha.exo_started_at is None
    assert alpha.exo_version == "1.0.71"  # the last version known is kept


@pytest.mark.django_db
def test_a_reading_begun_before_a_start_does_not_undo_the_starts(alpha):
    # The control worker's threads read side by side: the periodic reading began before the
    # start, the start job's reading (exo running) was written while it was still reading.
    read = exo_process.status
    process = None

    def slow_reading(node: Node) -> exo_process.ExoStatus:
        nonlocal process
        before_the_start = read(node)
        process = fake_exo(node)
        assert node_jobs.record_status(node).running  # the start job's, inside this one
        return before_the_start

    try:
        with mock.patch.object(exo_process, "status", autospec=True) as status:
            status.side_effect = lambda node: (
                slow_reading(node) if status.call_count == 1 else read(node))
            assert not node_jobs.record_status(alpha).running
        alpha.refresh_from_db()
        assert process is not None and alpha.exo_pid == process.pid
    finally:
        if process is not None:
            exo_process.kill_group(process)


@pytest.mark.django_db
def test_beat_asks_each_exo_nodes_own_queue(nodes):
    with mock.patch.object(celery_app, "send_task", autospec=True) as send:
        node_jobs.exo_status_fanout()
    assert {c.args[0] for c in send.call_args_list} == {node_jobs.STATUS_TASK}
    assert sorted((c.kwargs["args"], c.kwargs["queue"]) for c in send.call_args_list) == [
        (["alpha"], "node.alpha.control"), (["beta"], "node.beta.control")]
    assert all(c.kwargs["expires"] == node_jobs.STATUS_EXPIRES for c in send.call_args_list)


def test_a_process_left_running_is_reaped_when_it_ends(node):
    process = fake_exo(node)
    exo_process.reap_later(process)
    os.killpg(process.pid, signal.SIGKILL)
    # No zombie: the pid disappears without anyone here waiting for it.
    wait_until(lambda: not psutil.pid_exists(process.pid), timeout=5)
