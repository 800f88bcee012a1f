"""Which command a node that joins with the master's bootstrap command runs: only the one the
master printed when the panel started the exo running there now, and only if it starts with one
of the node's allowed programs."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone

from arthur_panel.exceptions import DomainError
from cluster_app.exo import node_jobs
from cluster_app.exo.process import ExoStatus
from cluster_app.models import Job, Node

pytestmark = pytest.mark.django_db

EXO = "/opt/homebrew/bin/exo"
JOIN = f"{EXO} --bootstrap-peers /ip4/10.0.0.1/tcp/5678"


@pytest.fixture
def beta(nodes: dict[str, Node]) -> Node:
    Node.objects.filter(name="beta").update(exo_start_command=[], exo_join_with_bootstrap=True,
                                            exo_join_programs=[[EXO]])
    return Node.objects.get(name="beta")


def master_started(*, pid: int, result: dict | None = None, running_pid: int | None = None) -> Job:
    """A finished start job on ALPHA, and ALPHA's exo process as its worker last read it."""
    alpha = Node.objects.get(name="alpha")
    job = Job.objects.create(kind=node_jobs.START, node=alpha, state=Job.State.SUCCEEDED,
                             finished_at=timezone.now(),
                             result={"already_running": False, "pid": pid, **(result or {})})
    Node.objects.filter(pk=alpha.pk).update(exo_pid=running_pid or pid)
    return job


def test_the_node_runs_the_command_its_master_printed_in_this_run(beta):
    master_started(pid=100, result={"bootstrap_command": JOIN})
    assert node_jobs.start_argv(beta) == [EXO, "--bootstrap-peers", "/ip4/10.0.0.1/tcp/5678"]


def test_a_later_already_running_start_keeps_the_runs_command(beta):
    master_started(pid=100, result={"bootstrap_command": JOIN})
    master_started(pid=100, result={"already_running": True})
    assert node_jobs.start_argv(beta)[0] == EXO


def test_a_command_from_an_earlier_run_of_the_master_is_not_used(beta):
    master_started(pid=100, result={"bootstrap_command": JOIN}, running_pid=200)
    with pytest.raises(DomainError) as refused:
        node_jobs.start_argv(beta)
    assert refused.value.code == "no_bootstrap"
    assert "ALPHA's exo (pid 200) was not started by the panel" in refused.value.message


def test_without_a_running_master_there_is_no_command(beta):
    with pytest.raises(DomainError, match="ALPHA is not running exo: start the master first"):
        node_jobs.start_argv(beta)


def test_a_command_that_does_not_start_with_an_allowed_program_is_refused(beta):
    hostile = "/bin/sh -c 'touch /tmp/owned'"
    master_started(pid=100, result={"bootstrap_command": hostile})
    with pytest.raises(DomainError) as refused:
        node_jobs.start_argv(beta)
    assert refused.value.code == "bootstrap_not_allowed"
    assert refused.value.message == (
        "BETA will not run the master's bootstrap command \"/bin/sh -c 'touch /tmp/owned'\": it "
        "does not start with one of BETA's allowed join programs. An admin can set BETA's own "
        "exo start command, or its allowed join programs, in the admin.")


def test_a_joining_node_without_allowed_programs_cannot_start(beta):
    Node.objects.filter(pk=beta.pk).update(exo_join_programs=[])
    beta.refresh_from_db()
    with pytest.raises(DomainError) as refused:
        node_jobs.check_startable(beta)
    assert refused.value.code == "no_join_programs"


def test_a_master_already_running_takes_no_command_from_its_console(nodes, tmp_path):
    """The attack: a bootstrap-like line in the master's console output (here a bare line, as a
    newline in an echoed model name would give) is not a start-up line of this job's."""
    alpha = Node.objects.get(name="alpha")
    console: Path = alpha.console_log_path
    console.parent.mkdir(parents=True, exist_ok=True)
    console.write_text("Bootstrap command: /bin/sh -c 'touch /tmp/owned'\n")
    job = Job.objects.create(kind=node_jobs.START, node=alpha, state=Job.State.RUNNING)
    running = ExoStatus(running=True, pid=4242, version="1.0.71")
    with mock.patch.object(node_jobs.exo_process, "status", autospec=True, return_value=running):
        result = node_jobs.run_start(job, mock.Mock())
    assert result == {"already_running": True, "pid": 4242, "version": "1.0.71"}
