from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from cluster_app.logs import ring
from cluster_app.logs.follow import LogFollower, files_to_follow
from cluster_app.models import Node


class Command(BaseCommand):
    help = ("Follow nodes' exo log files and start output (tail -F), classify the lines, keep "
            "the recent ones in Redis and stream them to the Logs page. Stops on Ctrl-C or "
            "SIGTERM.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", action="append", dest="nodes", metavar="NAME",
                            help="A node to follow (repeatable); default: every node with exo "
                                 "log files. On the cluster each Mac follows its own.")
        parser.add_argument("--keep", type=int, default=ring.KEEP_LINES,
                            help="Recent lines kept per node (default %(default)s)")
        parser.add_argument("--reload-seconds", type=float, default=10.0,
                            help="How often the node settings are read again (default %(default)s)")

    def handle(self, *args: Any, nodes: list[str] | None, keep: int, reload_seconds: float,
               **options: Any) -> None:
        if keep < 1 or reload_seconds <= 0:
            raise CommandError("--keep and --reload-seconds must be positive.")
        if nodes:
            known = set(Node.objects.values_list("name", flat=True))
            if unknown := [name for name in nodes if name not in known]:
                raise CommandError(f"No node named {', '.join(unknown)}; "
                                   f"nodes: {', '.join(sorted(known))}.")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

        def load() -> dict[str, list[str]]:
            close_old_connections()  # a long-lived process: never reuse a dead connection
            return files_to_follow(nodes)

        for node, paths in load().items():
            self.stdout.write(f"{node}: {', '.join(paths)}")
        self.stdout.write(f"Following (keeping {keep} lines per node); Ctrl-C stops.")
        LogFollower(keep=keep).run(stop, load, reload_seconds)
        self.stdout.write("Stopped.")
