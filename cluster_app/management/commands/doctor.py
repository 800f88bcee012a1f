from __future__ import annotations

import json
import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from arthur_panel.version import panel_version
from cluster_app.health import checks
from cluster_app.health.doctor import NODE_ANSWER_SECONDS, as_dict, doctor_checks, outcome_lines


class Command(BaseCommand):
    help = ("Check this deployment from this machine: the database (reachable, migrated), Redis "
            "(reachable, and only with a password), each node's worker (answering, its panel "
            "version and clock, its models directory), exo, the Hub, one version everywhere. "
            "Says what to fix; exits with 1 when a check fails.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=NODE_ANSWER_SECONDS,
                            help="Seconds to wait for the nodes' workers (default %(default)s)")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print the results as JSON")

    def handle(self, *args: Any, timeout: float, as_json: bool, **options: Any) -> None:
        if timeout <= 0:
            raise CommandError("--timeout must be positive.")
        outcomes = doctor_checks(node_timeout=timeout)
        if as_json:
            self.stdout.write(json.dumps({"host": socket.gethostname(), "version": panel_version(),
                                          "checks": [as_dict(o) for o in outcomes]}, indent=2))
        else:
            self.stdout.write(f"ARTHUR Panel {panel_version()}, checked from "
                              f"{socket.gethostname()}:")
            for outcome in outcomes:
                self.stdout.write("\n".join(outcome_lines(outcome)))
        failed = sum(o.status == checks.FAIL for o in outcomes)
        if failed:
            raise CommandError(f"{failed} check(s) failed: see each fix above.", returncode=1)
