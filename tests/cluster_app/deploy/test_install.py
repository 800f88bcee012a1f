"""`manage.py service` on a home directory of its own: the files written with their modes, the
launchctl and systemctl argument lists (mocked: neither can run here), a dry run that changes
nothing and shows no secret, a second install, uninstall and status."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from cluster_app.deploy import install
from tests.cluster_app.deploy.formats import check_launchd_job, exec_argv, lint_plist, parse_unit
from tests.cluster_app.deploy.test_units import LAUNCHCTL_PRINT

SECRETS = ("dbpw", "redispw")


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings) -> Path:
    """A home and a var directory of their own, and the master's database and Redis."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setenv("DATABASE_URL", "postgres://arthur:dbpw@alpha.local:5432/arthur")
    monkeypatch.setenv("REDIS_URL", "redis://:redispw@alpha.local:6379/0")
    monkeypatch.delenv("CONTROL_CONCURRENCY", raising=False)
    return home


@pytest.fixture
def commands() -> Iterator[mock.MagicMock]:
    """launchctl and systemctl, as if they succeeded."""
    done = subprocess.CompletedProcess([], 0, "", "")
    with mock.patch.object(install, "run_command", autospec=True, return_value=done) as run:
        yield run


def service(*args: str) -> str:
    out = StringIO()
    call_command("service", *args, stdout=out)
    return out.getvalue()


def ran(commands: mock.MagicMock) -> list[tuple[str, ...]]:
    return [call.args[0] for call in commands.call_args_list]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installing_the_master_on_a_mac(machine, commands, settings):
    output = service("install", "--role", "master", "--node", "alpha", "--platform", "launchd")
    agents = machine / "Library" / "LaunchAgents"
    names = ["web", "worker", "control", "beat", "logs"]
    assert sorted(p.name for p in agents.iterdir()) == sorted(
        f"com.arthur-panel.{n}.plist" for n in names)
    for name in names:
        plist = agents / f"com.arthur-panel.{name}.plist"
        assert mode(plist) == 0o600
        job = lint_plist(plist.read_bytes())
        check_launchd_job(job)
        assert job["ProgramArguments"][0] == sys.executable
        assert job["EnvironmentVariables"]["REDIS_URL"] == "redis://:redispw@alpha.local:6379/0"
        assert job["EnvironmentVariables"]["WORKER_NODES"] == "alpha"
    env_file = settings.VAR_DIR / "service.env"
    assert mode(env_file) == 0o600
    assert 'DATABASE_URL="postgres://arthur:dbpw@alpha.local:5432/arthur"' in env_file.read_text()
    assert (machine / "Library" / "Logs" / "arthur-panel").is_dir()
    uid = install.os.getuid()
    assert ran(commands) == [
        *(("launchctl", "bootout", f"gui/{uid}/com.arthur-panel.{n}") for n in names),
        *(argv for n in names for argv in (
            ("launchctl", "enable", f"gui/{uid}/com.arthur-panel.{n}"),
            ("launchctl", "bootstrap", f"gui/{uid}", str(agents / f"com.arthur-panel.{n}.plist"))))]
    assert "Installed web, worker, control, beat, logs for master alpha (launchd)." in output
    assert "turn on automatic login" in output
    assert not any(secret in output for secret in SECRETS)


def test_installing_gamma_with_systemd_and_installing_again(machine, commands):
    service("install", "--role", "node", "--node", "gamma", "--no-logs", "--platform", "systemd")
    units_dir = machine / ".config" / "systemd" / "user"
    assert sorted(p.name for p in units_dir.iterdir()) == [
        "arthur-panel-control.service", "arthur-panel-worker.service"]
    control = parse_unit((units_dir / "arthur-panel-control.service").read_text())
    assert exec_argv(control["Service"]["ExecStart"])[5:8] == [
        "worker", "-Q", "node.gamma.control"]
    assert mode(units_dir / "arthur-panel-control.service") == 0o644  # no secret in it
    assert ran(commands) == [
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", "arthur-panel-worker.service",
         "arthur-panel-control.service")]

    commands.reset_mock()
    service("install", "--role", "node", "--node", "gamma", "--no-logs", "--platform", "systemd")
    assert ran(commands)[-1] == ("systemctl", "--user", "restart", "arthur-panel-worker.service",
                                 "arthur-panel-control.service")


def test_a_dry_run_writes_and_runs_nothing_and_shows_no_secret(machine, commands, settings):
    output = service("install", "--role", "node", "--node", "beta", "--platform", "launchd",
                     "--dry-run")
    assert commands.call_count == 0
    assert not (machine / "Library").exists() and not settings.VAR_DIR.exists()
    assert output.startswith("Dry run: nothing is written or run. Secrets are shown as ****.")
    assert "would write: " + str(settings.VAR_DIR / "service.env") + " (mode 0600)" in output
    assert 'REDIS_URL="redis://:****@alpha.local:6379/0"' in output
    assert "<string>postgres://arthur:****@alpha.local:5432/arthur</string>" in output
    assert "would run: launchctl bootstrap gui/" in output
    assert not any(secret in output for secret in SECRETS)


def test_an_install_that_launchctl_refuses_says_why(machine, commands):
    def refuse(argv):
        if argv[1] == "bootstrap":
            return subprocess.CompletedProcess(argv, 5, "", "Bootstrap failed: 5: Input/output "
                                                            "error")
        if argv[1] == "bootout":  # of what is not loaded: that is fine
            return subprocess.CompletedProcess(argv, 3, "", "Boot-out failed: 3: No such process")
        return subprocess.CompletedProcess(argv, 0, "", "")

    commands.side_effect = refuse
    with pytest.raises(CommandError, match=r"launchctl bootstrap gui/\d+ .*com\.arthur-panel\."
                                           r"worker\.plist failed \(exit code 5\): Bootstrap "
                                           r"failed: 5: Input/output error"):
        service("install", "--role", "node", "--node", "beta", "--platform", "launchd")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--role", "node", "--node", "Beta"], {}, "'Beta' is not a node name"),
    (["--role", "node", "--node", "beta"], {"REDIS_URL": ""},
     "Set REDIS_URL before installing"),
    (["--role", "node", "--node", "beta"], {"CONTROL_CONCURRENCY": "1"},
     "CONTROL_CONCURRENCY must be a whole number, 2 or more"),
])
def test_an_install_that_cannot_be_made_changes_nothing(machine, commands, monkeypatch, args,
                                                        env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CommandError, match=message):
        service("install", *args, "--platform", "systemd")
    assert commands.call_count == 0 and not (machine / ".config").exists()


def test_uninstall_removes_the_services_and_the_env_file(machine, commands, settings):
    service("install", "--role", "node", "--node", "beta", "--platform", "launchd")
    commands.reset_mock()
    output = service("uninstall", "--platform", "launchd")
    uid = install.os.getuid()
    assert ran(commands) == [("launchctl", "bootout", f"gui/{uid}/com.arthur-panel.{n}")
                             for n in ("control", "logs", "worker")]
    assert list((machine / "Library" / "LaunchAgents").iterdir()) == []
    assert not (settings.VAR_DIR / "service.env").exists()
    assert output.strip().endswith("Removed control, logs, worker.")
    assert service("uninstall", "--platform", "launchd").strip() == (
        "No ARTHUR Panel services are installed here.")


def test_status_shows_each_service_and_never_its_environment(machine, commands):
    assert service("status", "--platform", "launchd").startswith(
        "No ARTHUR Panel services are installed here")
    service("install", "--role", "node", "--node", "beta", "--no-logs", "--platform", "launchd")

    def printed(argv):
        found = argv[2].endswith(".worker")
        return subprocess.CompletedProcess(argv, 0 if found else 113,
                                           LAUNCHCTL_PRINT if found else "", "")

    commands.side_effect = printed
    lines = service("status", "--platform", "launchd").splitlines()
    assert lines[0].split() == ["service", "state", "pid", "last", "exit"]
    assert lines[1].split()[:3] == ["control", "not", "loaded"]
    assert lines[2].split() == ["worker", "running", "4711", "1"]
    assert "redispw" not in "\n".join(lines)
