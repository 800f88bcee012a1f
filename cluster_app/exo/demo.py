"""Demo mode: the exo nodes' start commands run the exo simulator's node agent, so starting and
stopping the cluster is as real on a laptop as on the Macs."""

from __future__ import annotations

import sys
from pathlib import Path

from cluster_app.exo import cluster_jobs
from cluster_app.models import Job, Node

AGENT = "simulators.exo.node"


def configure_demo_nodes(*, exo_url: str, var_dir: Path, sim_log_dir: Path) -> None:
    """Point every exo node at the simulator at `exo_url`: the master runs the agent, the others
    join with the bootstrap command it prints (their name and PID lock come from their
    environment); PID locks live under `var_dir`/exo, logs are the simulator's."""
    for node in cluster_jobs.exo_nodes():
        pid_file = var_dir / "exo" / f"{node.name}.pid"
        node.exo_pid_file = str(pid_file)
        node.exo_log_files = [str(sim_log_dir / node.display_name.lower() / "exo.log")]
        if node.role == Node.Role.MASTER:
            node.exo_start_command = [sys.executable, "-m", AGENT, "--api", exo_url,
                                      "--name", node.display_name, "--pid-file", str(pid_file)]
            node.exo_join_with_bootstrap = False
            node.exo_environment = {}
        else:
            node.exo_start_command = []
            node.exo_join_with_bootstrap = True
            node.exo_join_programs = [[sys.executable, "-m", AGENT]]
            node.exo_environment = {"EXO_SIM_NODE": node.display_name,
                                    "EXO_SIM_PID_FILE": str(pid_file)}
        node.save(update_fields=["exo_pid_file", "exo_log_files", "exo_start_command",
                                 "exo_join_with_bootstrap", "exo_join_programs",
                                 "exo_environment"])


def demo_cluster_start() -> Job:
    """Bring the demo cluster up, as a job the user can watch."""
    return cluster_jobs.cluster_job_start(operation="start")
