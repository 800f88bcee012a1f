"""Installing, removing and reading the services of this machine: the files of units.py written
where launchd or systemd looks for them, and launchctl or systemctl run (argument lists, never
a shell). A dry run prints the same, with its secrets hidden, and changes nothing."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from django.conf import settings

from cluster_app.deploy import units
from cluster_app.deploy.units import (
    LAUNCHD,
    SYSTEMD,
    Command,
    DeployError,
    Paths,
    Plan,
    ServiceState,
)

COMMAND_TIMEOUT = 60
LINGER_DIR = Path("/var/lib/systemd/linger")
Output = Callable[[str], None]


def this_platform() -> str:
    """launchd on macOS, systemd on Linux."""
    if sys.platform == "darwin":
        return LAUNCHD
    if sys.platform.startswith("linux"):
        return SYSTEMD
    raise DeployError(f"No service manager the panel knows on {sys.platform}: launchd (macOS) "
                      "and systemd (Linux) only.")


def this_machine() -> Paths:
    """This checkout, run by this virtualenv's Python (not the interpreter it links to: the
    virtualenv's own packages are found from its path), for this user."""
    return Paths(root=Path(settings.BASE_DIR), python=Path(sys.executable),
                 home=Path.home(), var_dir=Path(settings.VAR_DIR))


def run_command(argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False,
                          timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)


def installed(platform: str, paths: Paths) -> list[str]:
    """The process names of the ARTHUR Panel services this user has, from their files."""
    if platform == LAUNCHD:
        folder, prefix, suffix = paths.launch_agents, units.LABEL_PREFIX, ".plist"
    else:
        folder, prefix, suffix = paths.systemd_dir, units.UNIT_PREFIX, ".service"
    if not folder.is_dir():
        return []
    return sorted(path.name.removeprefix(prefix).removesuffix(suffix)
                  for path in folder.glob(f"{prefix}*{suffix}"))


def install_command(role: str, node: str, *, logs: bool) -> str:
    """The command that writes these services, to say so in the files it writes."""
    return (f"manage.py service install --role {role} --node {node}"
            + ("" if logs else " --no-logs"))


class Services:
    """This user's ARTHUR Panel services on `platform`."""

    def __init__(self, platform: str, paths: Paths, *, out: Output, dry_run: bool = False,
                 uid: int | None = None) -> None:
        self.platform, self.paths, self.out, self.dry_run = platform, paths, out, dry_run
        self.uid = os.getuid() if uid is None else uid

    def install(self, *, role: str, node: str, given: Mapping[str, str], logs: bool) -> None:
        concurrency = given.get("CONTROL_CONCURRENCY") or "8"
        if not concurrency.isdigit() or int(concurrency) < 2:
            raise DeployError("CONTROL_CONCURRENCY must be a whole number, 2 or more: a cluster "
                              "job waits on its node jobs in the same worker.")
        procs = units.processes(role, node, self.paths, control_concurrency=int(concurrency),
                                logs=logs)
        env = units.service_environment(node, given, self.paths)
        shown_env = units.masked_env(env) if self.dry_run else env
        plan = units.install_plan(self.platform, uid=self.uid, paths=self.paths, procs=procs,
                                  env=shown_env, installed=installed(self.platform, self.paths),
                                  command=install_command(role, node, logs=logs))
        if self.dry_run:
            self.out("Dry run: nothing is written or run. Secrets are shown as ****.")
        self._carry_out(plan, make=[self.paths.log_dir] if self.platform == LAUNCHD else [])
        names = ", ".join(p.name for p in procs)
        self.out(f"{'Would install' if self.dry_run else 'Installed'} {names} for {role} "
                 f"{node} ({self.platform}).")
        self.out(self._start_at_boot())

    def uninstall(self) -> None:
        names = installed(self.platform, self.paths)
        if not names:
            self.out("No ARTHUR Panel services are installed here.")
            return
        plan = units.uninstall_plan(self.platform, uid=self.uid, paths=self.paths,
                                    installed=names)
        self._carry_out(plan, make=[])
        self.out(f"{'Would remove' if self.dry_run else 'Removed'} {', '.join(names)}.")

    def status(self) -> list[ServiceState]:
        found = []
        for name in installed(self.platform, self.paths):
            done = run_command(units.status_command(self.platform, uid=self.uid, name=name))
            read = units.launchd_state if self.platform == LAUNCHD else units.systemd_state
            found.append(read(name, done.returncode, done.stdout))
        return found

    # -- carrying out a plan ------------------------------------------------------------------

    def _carry_out(self, plan: Plan, *, make: list[Path]) -> None:
        for command in plan.stop:
            self._run(command)
        for path in plan.remove:
            self._remove(path)
        for folder in {f.path.parent for f in plan.write} | set(make):
            if not self.dry_run:
                folder.mkdir(parents=True, exist_ok=True)
        for entry in plan.write:
            self._write(entry)
        for command in plan.start:
            self._run(command)

    def _run(self, command: Command) -> None:
        self.out(f"{'would run' if self.dry_run else 'run'}: {units.shown(command.argv)}")
        if self.dry_run:
            return
        done = run_command(command.argv)
        if done.returncode != 0 and not command.may_fail:
            said = (done.stderr or done.stdout).strip()
            raise DeployError(f"{units.shown(command.argv)} failed (exit code "
                              f"{done.returncode}): {said}")

    def _remove(self, path: Path) -> None:
        self.out(f"{'would remove' if self.dry_run else 'remove'}: {path}")
        if not self.dry_run:
            path.unlink(missing_ok=True)

    def _write(self, entry: units.ServiceFile) -> None:
        self.out(f"{'would write' if self.dry_run else 'write'}: {entry.path} "
                 f"(mode {entry.mode:04o})")
        if self.dry_run:
            self.out(entry.content.decode())
            return
        # Created with its mode, and replaced in one step: never readable by others, even
        # for a moment.
        temporary = entry.path.with_name(f".{entry.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, entry.mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(entry.content)
        os.chmod(temporary, entry.mode)
        os.replace(temporary, entry.path)

    def _start_at_boot(self) -> str:
        user = pwd.getpwuid(self.uid).pw_name
        if self.platform == LAUNCHD:
            return (f"launchd runs these agents while {user} is logged in: turn on automatic "
                    f"login for {user} (System Settings > Users & Groups) so that they start "
                    "again after a reboot.")
        if (LINGER_DIR / user).exists():
            return f"Lingering is on for {user}: the units start at boot."
        return (f"So that the units start at boot, not at {user}'s first login: "
                f"`sudo loginctl enable-linger {user}`.")
