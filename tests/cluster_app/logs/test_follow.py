"""The follower on real files and the real Redis: tail -F behaviour, the ring, batches, memory."""

from __future__ import annotations

import os
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from arthur_panel.launcher import free_port
from arthur_panel.redis_client import redis_client
from cluster_app.logs import follow as logfollow
from cluster_app.logs import ring as logring
from cluster_app.logs.classify import REBOOT_BOTH_MACS
from cluster_app.logs.follow import FileTail, LogFollower
from tests.stack import wait_until

NODE = "alpha"
JACCL = "[ 2026-06-22 15:38:54.101 | ERROR    | exo.worker.runner.runner:main:402 ] " \
        "RuntimeError: [jaccl] Recv failed with errno=60"


@pytest.fixture(autouse=True)
def _empty_rings(empty_log_rings: None) -> None:
    """Every test here starts with no lines and no saved positions."""


class Recorder:
    """Keeps what the follower publishes to browsers; with `counting`, only how much."""

    def __init__(self, *, counting: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.counting = counting
        self.sent = self.skipped = self.largest = 0

    def __call__(self, groups: list[str], event: dict[str, Any]) -> None:
        assert groups == ["logs"] and event["type"] == "logs.lines"
        self.sent += len(event["lines"])
        self.skipped += event["skipped"]
        self.largest = max(self.largest, len(event["lines"]))
        if not self.counting:
            self.events.append(event)

    @property
    def lines(self) -> list[str]:
        return [line["text"] for event in self.events for line in event["lines"]]


class Clock:
    """Monotonic time for the follower, a second on per step: every step may write a batch."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def follow(files: list[Path], *, keep: int = 5000,
           recorder: Recorder | None = None) -> tuple[LogFollower, Recorder, Clock]:
    recorder = recorder or Recorder()
    follower = LogFollower(keep=keep, publish=recorder)
    follower.configure({NODE: [str(path) for path in files]})
    return follower, recorder, Clock()


def drain(follower: LogFollower, clock: Clock) -> int:
    """Step until two steps in a row read nothing: the files are done and the batch written
    (a step that only writes a held-back batch reads nothing either)."""
    total, idle = 0, 0
    while idle < 2:
        read = follower.step(clock())
        total, idle = total + read, 0 if read else idle + 1
    return total


def ring(node: str = NODE) -> list[str]:
    return [record["text"] for record in logring.recent_lines([node], limit=100_000)]


def write(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_a_file_that_appears_later_is_read_from_its_start(tmp_path):
    path = tmp_path / "exo.log"
    follower, recorder, clock = follow([path])
    assert drain(follower, clock) == 0
    assert follower.status(NODE) == {str(path): "waiting"}
    write(path, "one\ntwo\n")
    assert drain(follower, clock) == 2
    assert ring() == ["one", "two"] == recorder.lines
    assert follower.status(NODE) == {str(path): "following"}


def test_a_partial_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("")
    follower, _, clock = follow([path])
    write(path, "first\nsec")
    drain(follower, clock)
    assert ring() == ["first"]
    write(path, "ond half\nthird")
    drain(follower, clock)
    assert ring() == ["first", "second half"]


def test_rotation_finishes_the_old_file_then_reads_the_new_one_from_its_start(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("old 1\n")
    follower, _, clock = follow([path])
    drain(follower, clock)
    write(path, "old 2\nold 3 without its newline")
    path.rename(tmp_path / "exo.log.1")
    path.write_text("new 1\nnew 2\n")
    drain(follower, clock)
    assert ring() == ["old 1", "old 2", "old 3 without its newline", "new 1", "new 2"]


def test_a_file_deleted_and_created_again_is_read_from_its_start(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("before\n")
    follower, _, clock = follow([path])
    drain(follower, clock)
    path.unlink()
    drain(follower, clock)
    path.write_text("after 1\nafter 2\n")
    drain(follower, clock)
    assert ring() == ["before", "after 1", "after 2"]


def test_truncation_reads_the_file_again_from_its_start(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("a long first line\nanother long line\n")
    follower, _, clock = follow([path])
    drain(follower, clock)
    with path.open("w") as handle:  # what `: > exo.log` does
        handle.write("short\n")
    drain(follower, clock)
    assert ring() == ["a long first line", "another long line", "short"]


def test_a_big_file_there_at_the_start_shows_its_last_lines_from_a_line_start(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("".join(f"line {n:06d}\n" for n in range(20_000)))  # 240 kB
    follower, _, clock = follow([path], keep=20_000)
    drain(follower, clock)
    lines = ring()
    assert lines[-1] == "line 019999"
    assert all(line.startswith("line ") and len(line) == 11 for line in lines)
    assert len(lines) == logfollow.FIRST_LOOK_BYTES // 12


def test_a_new_follower_goes_on_where_the_last_one_stopped(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("one\ntwo\n")
    first, _, clock = follow([path])
    drain(first, clock)
    first.close()
    write(path, "three\n")
    second, _, clock = follow([path])
    drain(second, clock)
    assert ring() == ["one", "two", "three"]
    assert [r["seq"] for r in logring.recent_lines([NODE], limit=10)] == [1, 2, 3]


def test_a_very_long_line_is_split_so_memory_stays_bounded(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("")
    follower, _, clock = follow([path])
    write(path, "x" * (logfollow.MAX_LINE_CHARS * 2 + 10))  # and no newline yet
    drain(follower, clock)
    write(path, "\n")
    drain(follower, clock)
    assert [len(line) for line in ring()] == [logfollow.MAX_LINE_CHARS] * 2 + [10]


def test_lines_carry_their_node_file_class_and_hint(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("")
    follower, recorder, clock = follow([path])
    write(path, JACCL + "\n")
    drain(follower, clock)
    (record,) = logring.recent_lines([NODE], limit=10)
    assert record["node"] == NODE and record["file"] == str(path) and record["seq"] == 1
    assert record["level"] == "ERROR" and record["classes"] == ["jaccl", "error"]
    assert record["hint"] == REBOOT_BOTH_MACS
    assert recorder.events == [{"type": "logs.lines", "lines": [record], "skipped": 0}]


def test_several_nodes_and_files_each_keep_their_own_ring(tmp_path):
    alpha, runner, beta = tmp_path / "a.log", tmp_path / "a-stderr.log", tmp_path / "b.log"
    for path, text in ((alpha, "a1\n"), (runner, "r1\n"), (beta, "b1\nb2\n")):
        path.write_text(text)
    follower = LogFollower(publish=Recorder())
    follower.configure({"alpha": [str(alpha), str(runner)], "beta": [str(beta)]})
    drain(follower, Clock())
    assert sorted(ring("alpha")) == ["a1", "r1"] and ring("beta") == ["b1", "b2"]


def test_reconfiguring_starts_new_files_and_stops_dropped_ones(tmp_path):
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    one.write_text("")
    two.write_text("")
    follower, _, clock = follow([one])
    follower.configure({NODE: [str(two)]})
    write(one, "not followed any more\n")
    write(two, "followed now\n")
    drain(follower, clock)
    assert ring() == ["followed now"]
    follower.configure({})
    assert follower.nodes == {}


def test_a_burst_of_100000_lines_keeps_the_newest_in_a_bounded_ring_in_little_memory(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("")
    follower, recorder, clock = follow([path], keep=5000, recorder=Recorder(counting=True))

    def burst(first: int, count: int) -> None:
        with path.open("a") as handle:
            for n in range(first, first + count):
                handle.write(f"[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] "
                             f"line {n} [jaccl] MLX_IBV_DEVICES rdma_en3\n")

    burst(0, 70_000)
    read = drain(follower, clock)
    # The rest under tracemalloc (slow): memory kept from line to line would show as growth.
    burst(70_000, 30_000)
    tracemalloc.start()
    try:
        read += drain(follower, clock)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == 100_000
    records = logring.recent_lines([NODE], limit=100_000)
    assert redis_client().llen(f"{logring.PREFIX}:lines:{NODE}") == len(records) == 5000
    assert [r["text"].split()[1] for r in records] == [str(n) for n in range(95_000, 100_000)]
    assert [r["seq"] for r in records] == list(range(95_001, 100_001))
    assert all(r["classes"] == ["jaccl", "rdma"] for r in records)
    assert recorder.sent + recorder.skipped == 100_000  # each line sent, or counted as skipped
    assert 0 < recorder.largest <= logfollow.LIVE_BATCH
    assert peak < 4 * 1024**2, f"peak {peak / 1024**2:.1f} MiB"
    assert current < 512 * 1024, f"{current / 1024:.0f} KiB still held"
    assert os.path.getsize(path) > 10 * 1024**2  # the file was much bigger than what was held


def test_browsers_get_a_batch_at_most_every_interval_with_its_newest_lines(tmp_path):
    path = tmp_path / "exo.log"
    follower, recorder, _ = follow([path])
    path.write_text("".join(f"line {n} {'x' * 100}\n" for n in range(3000)))  # 5 chunks
    while follower.step(5.0):  # all read within one interval: the first step's lines are sent
        pass
    assert len(recorder.events) == 1
    follower.step(6.0)
    assert len(recorder.events) == 2
    assert recorder.events[0]["lines"][0]["seq"] == 1
    last = recorder.events[-1]
    assert len(last["lines"]) == logfollow.LIVE_BATCH
    assert [line["text"].split()[1] for line in last["lines"]] == [
        str(n) for n in range(2000, 3000)]
    assert recorder.sent + recorder.skipped == 3000
    assert len(ring()) == 3000  # the ring has every line


def test_while_redis_refuses_lines_wait_in_the_file_and_none_is_lost(tmp_path, settings):
    path = tmp_path / "exo.log"
    follower, _, clock = follow([path])
    path.write_text("".join(f"line {n} {'x' * 100}\n" for n in range(5000)))
    working, settings.REDIS_URL = settings.REDIS_URL, f"redis://127.0.0.1:{free_port()}/0"
    read_while_down = sum(follower.step(clock()) for _ in range(20))
    assert logfollow.RING_BATCH <= read_while_down < 5000  # it stopped reading, not dropping
    settings.REDIS_URL = working
    drain(follower, clock)
    assert [line.split()[1] for line in ring()] == [str(n) for n in range(5000)]


def test_the_follower_runs_until_told_to_stop(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("")
    follower, recorder, _ = follow([path])
    stop = threading.Event()
    runner = threading.Thread(target=follower.run,
                              args=(stop, lambda: {NODE: [str(path)]}, 0.2))
    runner.start()
    try:
        write(path, JACCL + "\n")
        wait_until(lambda: recorder.lines)
        assert recorder.lines == [JACCL.split("] ", 1)[1]]
        assert logring.followers([NODE])[NODE]["files"] == {str(path): "following"}
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()


def test_follow_logs_refuses_unknown_nodes(nodes):
    with pytest.raises(CommandError, match="No node named omega; nodes: alpha, beta, gamma"):
        call_command("follow_logs", "--node", "omega")


def test_a_node_follows_its_exo_logs_with_home_expanded_and_its_start_output(nodes):
    files = logfollow.files_to_follow()
    assert set(files) == {"alpha", "beta"}  # gamma has no exo log files
    home = os.path.expanduser("~")
    assert files["alpha"] == [f"{home}/.exo/exo_log/exo.log",
                              f"{home}/.exo/exo_log/runner_log/stderr.log",
                              str(nodes["alpha"].console_log_path)]
    assert list(logfollow.files_to_follow(["gamma"])) == ["gamma"]


def test_file_tail_reads_in_chunks(tmp_path):
    path = tmp_path / "exo.log"
    path.write_text("")
    tail = FileTail(str(path))
    tail.read()
    path.write_text("y\n" * logfollow.CHUNK_BYTES)
    assert len(tail.read()) == logfollow.CHUNK_BYTES // 2
    assert tail.position.endswith(f":{logfollow.CHUNK_BYTES}")
