"""`make run`'s process group kept alive: a process that ends is started again after a growing
pause, the others run on, the status file says so, and Ctrl-C still stops everything, Redis
once the others have stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from arthur_panel.supervisor import read_status, restart_delay
from tests.stack import wait_until


def test_the_pause_doubles_up_to_a_cap():
    assert [restart_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    assert restart_delay(3, first=0.1) == pytest.approx(0.4)


def test_a_missing_or_broken_status_file_is_none(tmp_path):
    assert read_status(tmp_path / "absent.json") is None
    (tmp_path / "broken.json").write_text("{not json")
    assert read_status(tmp_path / "broken.json") is None
    (tmp_path / "other.json").write_text(json.dumps({"processes": []}))
    assert read_status(tmp_path / "other.json") is None


SUPERVISED = textwrap.dedent("""
    import sys
    from pathlib import Path
    from arthur_panel.supervisor import Supervisor

    manager = Supervisor(Path(sys.argv[1]), first_delay=0.2)
    manager.add_process("flaky", "echo up; exit 3")
    manager.add_process("steady", "sleep 600")
    manager.loop()
    sys.exit(manager.returncode or 0)
""")


def test_a_process_that_ends_is_started_again_and_ctrl_c_stops_all(tmp_path):
    status_file = tmp_path / "processes.json"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISED, str(status_file)],
                                      stdout=out, stderr=subprocess.STDOUT)
    try:
        status = wait_until(lambda: (s := read_status(status_file)) and
                            s["processes"]["flaky"]["restarts"] >= 3 and s, timeout=30)
        flaky, steady = status["processes"]["flaky"], status["processes"]["steady"]
        assert flaky["last_exit_code"] == 3
        assert (steady["state"], steady["restarts"]) == ("running", 0)
        assert psutil.pid_exists(steady["pid"])
        text = log.read_text()
        # The pause grows: 0.2 s, then 0.4 s, then 0.8 s.
        assert "flaky ended (rc=3); starting it again in 0.2 s" in text
        assert "flaky ended (rc=3); starting it again in 0.4 s" in text
        assert text.count("steady started") == 1
        group = psutil.Process(supervisor.pid).children(recursive=True)
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=20) == 130
        assert not [p for p in group if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not status_file.exists()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


# "slow" takes a second to stop; "store" (as Redis) notes when it is told to.
STOPPING = textwrap.dedent("""
    import sys
    from pathlib import Path
    from arthur_panel.supervisor import Supervisor

    out = Path(sys.argv[2])
    manager = Supervisor(Path(sys.argv[1]))
    manager.add_process("store", f"trap 'date +%s.%N > {out}/store; exit 0' TERM; "
                        "while :; do sleep 0.05; done", stop_last=True)
    manager.add_process("slow", f"trap 'sleep 1; date +%s.%N > {out}/slow; exit 0' TERM; "
                        "while :; do sleep 0.05; done")
    manager.loop()
    sys.exit(manager.returncode or 0)
""")


def test_ctrl_c_stops_redis_after_the_processes_that_use_it(tmp_path):
    status_file = tmp_path / "processes.json"
    with (tmp_path / "run.log").open("wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", STOPPING, str(status_file), str(tmp_path)],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (s := read_status(status_file)) and all(
            p["state"] == "running" for p in s["processes"].values()), timeout=30)
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=20) == 130
        slow_ended = float((tmp_path / "slow").read_text())
        store_told = float((tmp_path / "store").read_text())
        assert store_told >= slow_ended, (store_told, slow_ended)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
