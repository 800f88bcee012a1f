"""The multiprocess directory: the counts of processes that exited are folded into the archive,
never lost, and the directory does not grow with every restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from arthur_panel.prometheus import process_key
from cluster_app.metrics import store

ROOT = Path(__file__).resolve().parents[3]

# A process of its own counting into `directory`, then exiting.
COUNT = """
import sys
from pathlib import Path
from arthur_panel.prometheus import use_directory
use_directory(Path(sys.argv[1]))
from prometheus_client import Counter, Histogram
Counter("t_events", "events", ["node"]).labels("alpha").inc(int(sys.argv[2]))
Histogram("t_seconds", "seconds", buckets=(1, 10)).observe(float(sys.argv[2]))
"""


def count_in_a_process(directory, amount):
    subprocess.run([sys.executable, "-c", COUNT, str(directory), str(amount)], check=True,
                   cwd=ROOT)


def totals(directory):
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_dead_processes_are_folded_into_the_archive_with_their_counts(tmp_path):
    count_in_a_process(tmp_path, 3)
    count_in_a_process(tmp_path, 4)
    before = totals(tmp_path)
    assert before[("t_events_total", (("node", "alpha"),))] == 7
    assert len(list(tmp_path.glob("*.db"))) == 4

    with store.locked(tmp_path):
        assert store.compact(tmp_path) == 4

    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db",
                                                             "histogram_archive.db"]
    assert totals(tmp_path) == before
    count_in_a_process(tmp_path, 5)
    with store.locked(tmp_path):
        assert store.compact(tmp_path) == 2
    after = totals(tmp_path)
    assert after[("t_events_total", (("node", "alpha"),))] == 12
    assert after[("t_seconds_bucket", (("le", "10.0"),))] == 3
    assert after[("t_seconds_count", ())] == 3


def test_a_live_process_keeps_its_file_and_another_hosts_are_left_alone(tmp_path):
    mine = tmp_path / f"counter_{process_key()}.db"
    # Another container's process: its pid means nothing here, dead or alive.
    theirs = tmp_path / "counter_another-container-999999999.db"
    for path in (mine, theirs):
        path.write_bytes(b"")
    with store.locked(tmp_path):
        assert store.compact(tmp_path) == 0
    assert mine.exists() and theirs.exists()
    assert store.alive(os.getpid())
