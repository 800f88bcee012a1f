from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster_app.deploy import units
from cluster_app.deploy.install import Services, this_machine, this_platform
from cluster_app.deploy.units import DeployError


class Command(BaseCommand):
    help = ("The panel's services on this machine, as its OS runs them: launchd agents on "
            "macOS, systemd user units on Linux. `install` writes and starts those of a role "
            "(master: web, workers, beat, log follower; node: its workers and log follower), "
            "with the environment the command runs in; `uninstall` stops and removes them; "
            "`status` says how each is.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        install = actions.add_parser("install", help="write and start this machine's services")
        install.add_argument("--role", required=True, choices=units.ROLES)
        install.add_argument("--node", required=True,
                             help="this machine's node name in the inventory (alpha, beta, "
                                  "gamma): its workers take that node's queues")
        install.add_argument("--no-logs", action="store_true",
                             help="no exo log follower: a machine that runs no exo (GAMMA)")
        uninstall = actions.add_parser("uninstall", help="stop and remove them")
        status = actions.add_parser("status", help="how each service is")
        for sub in (install, uninstall, status):
            sub.add_argument("--platform", choices=units.PLATFORMS,
                             help="launchd or systemd (default: this machine's)")
        for sub in (install, uninstall):
            sub.add_argument("--dry-run", action="store_true",
                             help="print what would be written and run, and change nothing")

    def handle(self, *args: Any, action: str, platform: str | None, **options: Any) -> None:
        try:
            services = Services(platform or this_platform(), this_machine(),
                                out=self.stdout.write, dry_run=options.get("dry_run", False))
            if action == "install":
                services.install(role=options["role"], node=options["node"],
                                 given=os.environ, logs=not options["no_logs"])
            elif action == "uninstall":
                services.uninstall()
            else:
                self._status(services)
        except DeployError as exc:
            raise CommandError(str(exc)) from None

    def _status(self, services: Services) -> None:
        states = services.status()
        if not states:
            self.stdout.write("No ARTHUR Panel services are installed here: "
                              "`manage.py service install --role ... --node ...`.")
            return
        rows = [("service", "state", "pid", "last exit", "")] + [
            (s.name, s.state, str(s.pid or "—"), s.last_exit or "—", s.detail) for s in states]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in
                                        zip(row, [*widths, 0], strict=True)).rstrip())
