"""exo-format log files, one per node: ``<log dir>/<node name lower>/exo.log``.

A line reads ``[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] pid = 41233``,
the shape the panel's log follower parses on the real machines.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

# Where in exo each kind of line comes from, so the simulated source field looks real.
SOURCES: dict[str, str] = {
    "main": "exo.main:main_inner:339",
    "election": "exo.shared.election:_campaign:212",
    "master": "exo.master.main:_event_processor:164",
    "placement": "exo.master.placement:place_instance:201",
    "api": "exo.master.api:chat_completions:1318",
    "download": "exo.worker.download.download_utils:download_shard:602",
    "runner": "exo.worker.runner.runner_supervisor:_watch_runner:188",
    "jaccl": "exo.worker.engines.mlx.utils_mlx:mlx_distributed_init:131",
    "load": "exo.worker.engines.mlx.utils_mlx:load_mlx_items:247",
    "generate": "exo.worker.runner.runner:main:402",
}


def format_line(kind: str, message: str, level: str = "INFO") -> str:
    """One line as exo writes it, without the newline."""
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"[ {stamp} | {level:<8} | {SOURCES[kind]} ] {message}"


class Logbook:
    """Appends lines to each node's exo.log; the files are opened per write so tailers see them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir

    def path_for(self, node_name: str) -> Path:
        return self.log_dir / node_name.lower() / "exo.log"

    def write(self, node_name: str, kind: str, message: str, level: str = "INFO") -> None:
        path = self.path_for(node_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(format_line(kind, message, level) + "\n")
