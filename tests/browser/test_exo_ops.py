"""exo on the nodes in a real Chromium: a node's exo process on the cluster page, and stopping
the cluster with the job's log following live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cluster_app.exo import node_jobs
from cluster_app.models import Node
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# A stand-in for ALPHA's exo: takes its PID lock and runs until SIGINT.
FAKE_EXO = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
print("exo version 1.0.71", flush=True)
time.sleep(120)
"""


def test_stop_the_cluster_and_watch_its_log(logged_in_operator, live_stack, tmp_path):
    page = logged_in_operator
    for name in ("alpha", "beta"):  # never the locks of an exo really running on this machine
        Node.objects.filter(name=name).update(exo_pid_file=str(tmp_path / f"{name}.pid"))
    alpha = Node.objects.get(name="alpha")
    # Its own session, as the panel starts exo: the stop signals exo's process group.
    fake = subprocess.Popen([sys.executable, "-c", FAKE_EXO, alpha.exo_pid_file],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        lock = Path(alpha.exo_pid_file)
        wait_until(lambda: lock.exists() and lock.read_text().strip().isdigit(), timeout=10)
        node_jobs.record_status(alpha)
        page.goto(f"{live_stack.base_url}/cluster/")
        row = page.locator("#exo-table tr[data-node=alpha]")
        expect(row).to_contain_text("running", timeout=10000)
        expect(row).to_contain_text(str(fake.pid))
        expect(page.locator("#exo-table tr[data-node=beta]")).to_contain_text("not running")

        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        page.get_by_role("button", name="Stop cluster").click()
        job = page.locator("#ops-job-row .job-row")
        expect(job).to_contain_text("cluster.stop", timeout=10000)
        expect(job.locator(".state")).to_have_text("succeeded", timeout=20000)
        log = page.locator("#ops-log")
        expect(log).to_contain_text("[BETA] exo is not running on BETA")
        expect(log).to_contain_text(f"[ALPHA] exo (pid {fake.pid}) exited after SIGINT")
        assert dialogs and dialogs[0].startswith("Stop exo on every node?")
        assert fake.wait(timeout=10) != 0
        expect(row).to_contain_text("not running", timeout=15000)
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()


def test_someone_who_is_not_an_operator_sees_no_start_or_stop(logged_in_viewer, live_stack):
    page = logged_in_viewer
    page.goto(f"{live_stack.base_url}/cluster/")
    expect(page.locator("#ops-not-allowed")).to_contain_text("for operators")
    expect(page.locator("#exo-table tr[data-node=alpha]")).to_be_visible(timeout=10000)
    for name in ("Start cluster", "Stop cluster", "Restart", "Start", "Stop"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
