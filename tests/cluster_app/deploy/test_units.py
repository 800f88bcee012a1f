"""The service files, pure: what each role runs, the launchd agents checked as plutil and
launchd would, the systemd units parsed and verified by systemd-analyze where it is installed,
the env file read back by a shell, and the install and uninstall plans' commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arthur_panel.celery import Lane, lane_queue
from cluster_app.deploy import units
from cluster_app.deploy.units import LAUNCHD, MASTER, NODE, SYSTEMD, Command, DeployError, Paths
from tests.cluster_app.deploy.formats import (
    check_launchd_job,
    exec_argv,
    lint_plist,
    parse_unit,
)

ROOT = Path(__file__).resolve().parents[3]
MAC = Paths(root=Path("/Users/arthur/arthur-panel"),
            python=Path("/Users/arthur/arthur-panel/.venv/bin/python"),
            home=Path("/Users/arthur"), var_dir=Path("/Users/arthur/arthur-panel/var"))
# A password with every character a shell or systemd would read into.
PASSWORD = 'p@ss"w$rd`\\%h x'
GIVEN = {"DATABASE_URL": "postgres://arthur:dbpw@alpha.local:5432/arthur",
         "REDIS_URL": "redis://:redispw@alpha.local:6379/0",
         "EXO_API_URL": "http://alpha.local:52415", "HF_TOKEN": "hf_secret",
         "PATH": "/opt/homebrew/bin:/usr/bin:/bin", "AWS_SECRET_ACCESS_KEY": "not the panel's",
         "DJANGO_SECRET_KEY": PASSWORD}


def names(procs: list[units.Process]) -> list[str]:
    return [p.name for p in procs]


def test_each_role_runs_what_the_architecture_says():
    master = units.processes(MASTER, "alpha", MAC)
    assert names(master) == ["web", "worker", "control", "beat", "logs"]
    python = str(MAC.python)
    by_name = {p.name: p.argv for p in master}
    assert by_name["web"] == (python, "-m", "arthur_panel.web")
    assert by_name["worker"] == (python, "-m", "celery", "-A", "arthur_panel", "worker",
                                 "--loglevel", "INFO")
    assert by_name["control"] == (python, "-m", "celery", "-A", "arthur_panel", "worker", "-Q",
                                  "control", "-n", "control@%h", "--pool", "threads",
                                  "--concurrency", "8", "--loglevel", "INFO")
    assert by_name["beat"][-3:] == ("beat", "--loglevel", "INFO")
    assert by_name["logs"] == (python, "/Users/arthur/arthur-panel/manage.py", "follow_logs",
                               "--node", "alpha")
    beta = {p.name: p.argv for p in units.processes(NODE, "beta", MAC, control_concurrency=4)}
    assert list(beta) == ["worker", "control", "logs"]
    assert beta["worker"][5:8] == ("worker", "-Q", lane_queue(Lane.BULK, "beta"))
    assert beta["control"][5:8] == ("worker", "-Q", lane_queue(Lane.CONTROL, "beta"))
    assert "4" in beta["control"]
    assert names(units.processes(NODE, "gamma", MAC, logs=False)) == ["worker", "control"]


@pytest.mark.parametrize(("role", "node", "message"), [
    ("worker", "beta", "The role is master or node, not 'worker'."),
    (NODE, "BETA", "'BETA' is not a node name"),
    (NODE, "beta; rm -rf ~", "is not a node name"),
])
def test_a_role_or_node_name_that_is_not_one_is_refused(role, node, message):
    with pytest.raises(DeployError, match=re.escape(message)):
        units.processes(role, node, MAC)


def test_the_environment_carries_the_panels_variables_and_nothing_else():
    env = units.service_environment("beta", GIVEN, MAC)
    assert env["WORKER_NODES"] == "beta"
    assert env["ARTHUR_VAR_DIR"] == "/Users/arthur/arthur-panel/var"
    assert env["PATH"] == "/Users/arthur/arthur-panel/.venv/bin:/opt/homebrew/bin:/usr/bin:/bin"
    assert (env["DATABASE_URL"], env["REDIS_URL"]) == (GIVEN["DATABASE_URL"], GIVEN["REDIS_URL"])
    assert env["HF_TOKEN"] == "hf_secret" and env["DJANGO_SECRET_KEY"] == PASSWORD
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert list(env) == sorted(env)


def test_without_the_masters_database_and_redis_nothing_is_installed():
    with pytest.raises(DeployError, match="Set DATABASE_URL and REDIS_URL before installing"):
        units.service_environment("beta", {"PATH": "/usr/bin"}, MAC)
    with pytest.raises(DeployError, match="line break"):
        units.service_environment("beta", {**GIVEN, "HF_TOKEN": "a\nb"}, MAC)


def test_secrets_are_hidden_for_showing():
    shown = units.masked_env(units.service_environment("beta", GIVEN, MAC))
    assert shown["REDIS_URL"] == "redis://:****@alpha.local:6379/0"
    assert shown["DATABASE_URL"] == "postgres://arthur:****@alpha.local:5432/arthur"
    assert shown["HF_TOKEN"] == shown["DJANGO_SECRET_KEY"] == "****"
    assert "redispw" not in str(shown) and "dbpw" not in str(shown)


# --- launchd ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [MASTER, NODE])
def test_every_agent_is_a_valid_plist_with_what_launchd_needs(role):
    env = units.service_environment("alpha", GIVEN, MAC)
    for process in units.processes(role, "alpha", MAC):
        job = lint_plist(units.launchd_plist(process, MAC, env))
        check_launchd_job(job)
        assert job["Label"] == f"com.arthur-panel.{process.name}"
        assert job["ProgramArguments"] == list(process.argv)
        assert job["ProgramArguments"][0] == "/Users/arthur/arthur-panel/.venv/bin/python"
        assert job["WorkingDirectory"] == "/Users/arthur/arthur-panel"
        assert job["EnvironmentVariables"] == env  # the password as it is, in a 0600 file
        assert job["RunAtLoad"] is True
        assert job["KeepAlive"] == {"SuccessfulExit": False}  # again after a crash only
        log = f"/Users/arthur/Library/Logs/arthur-panel/{process.name}.log"
        assert job["StandardOutPath"] == job["StandardErrorPath"] == log


def test_the_plist_checks_find_what_launchd_would_refuse():
    good = units.launchd_plist(units.processes(NODE, "beta", MAC)[0], MAC, {"A": "1"})
    with pytest.raises(AssertionError, match="exactly one value"):
        lint_plist(good.replace(b"</dict>\n</plist>", b"</dict>\n<true/>\n</plist>"))
    with pytest.raises(AssertionError, match="a key twice"):
        lint_plist(good.replace(b"<key>WorkingDirectory</key>", b"<key>Label</key>"))
    broken = units.launchd_plist(units.Process("x", "x", ("python", "-V")), MAC, {"A": "1"})
    with pytest.raises(AssertionError, match="does not search PATH"):
        check_launchd_job(lint_plist(broken))


# --- systemd ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [MASTER, NODE])
def test_every_unit_parses_with_what_systemd_needs(role):
    for process in units.processes(role, "gamma", MAC):
        unit = parse_unit(units.systemd_unit(process, MAC, "gamma"))
        assert unit.sections() == ["Unit", "Service", "Install"]
        service = unit["Service"]
        assert unit["Unit"]["Description"] == f"ARTHUR Panel {process.description} (gamma)"
        assert exec_argv(service["ExecStart"]) == list(process.argv)
        assert service["WorkingDirectory"] == "/Users/arthur/arthur-panel"
        assert service["EnvironmentFile"] == "/Users/arthur/arthur-panel/var/service.env"
        assert (service["Type"], service["Restart"]) == ("simple", "on-failure")
        assert unit["Install"]["WantedBy"] == "default.target"


def test_exec_start_keeps_specifiers_variables_and_quotes_literal():
    process = units.Process("x", "x", ("/opt/a b/python", "control@%h", "$HOME", 'say "hi"',
                                       "back\\slash", ""))
    line = parse_unit(units.systemd_unit(process, MAC, "gamma"))["Service"]["ExecStart"]
    assert "control@%%h" in line and "$$HOME" in line
    assert exec_argv(line) == list(process.argv)
    # The reader has teeth: an unescaped specifier is not the argument it was.
    assert exec_argv("python control@%h") == ["python", "control@<specifier %h>"]


def verify(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify --user` on these unit files."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    return subprocess.run(["systemd-analyze", "verify", "--user", *paths], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here (it comes with systemd); the "
                           "units are still parsed and checked above")
def test_systemd_analyze_verify_finds_nothing_wrong(tmp_path):
    here = Paths(root=ROOT, python=Path(sys.executable), home=tmp_path, var_dir=tmp_path)
    files = {units.unit_name(p.name): units.systemd_unit(p, here, "alpha")
             for p in units.processes(MASTER, "alpha", here)}
    done = verify(tmp_path, files)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # It has teeth: a program that is not there is an error.
    missing = Paths(root=ROOT, python=tmp_path / "no-python", home=tmp_path, var_dir=tmp_path)
    broken = units.systemd_unit(units.processes(NODE, "gamma", missing)[0], missing, "gamma")
    other = tmp_path / "broken"
    other.mkdir()
    done = verify(other, {"arthur-panel-worker.service": broken})
    assert done.returncode != 0 and "no-python" in done.stderr


# --- the env file ----------------------------------------------------------------------------

def test_the_env_file_reads_back_the_same_in_a_shell(tmp_path):
    env = units.service_environment("gamma", {**GIVEN, "REDIS_URL": f"redis://:{PASSWORD}@a:1/0"},
                                    MAC)
    text = units.env_file(env, "manage.py service install --role node --node gamma")
    assert text.startswith("# ARTHUR Panel services' environment, written by `manage.py service "
                           "install --role node --node gamma`.\n")
    (tmp_path / "service.env").write_text(text)
    done = subprocess.run(["bash", "-c", 'set -a; . "$0"; env -0', str(tmp_path / "service.env")],
                          capture_output=True, text=True, check=True, env={})
    read = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    assert {name: read[name] for name in env} == env


# --- plans -----------------------------------------------------------------------------------

def test_a_launchd_install_stops_replaces_and_bootstraps_each_agent():
    procs = units.processes(NODE, "beta", MAC)
    env = units.service_environment("beta", GIVEN, MAC)
    plan = units.install_plan(LAUNCHD, uid=501, paths=MAC, procs=procs, env=env,
                              installed=["web", "worker"], command="c")
    assert plan.stop == [Command(("launchctl", "bootout", f"gui/501/com.arthur-panel.{name}"),
                                 may_fail=True) for name in ("worker", "control", "logs", "web")]
    assert plan.remove == [MAC.launch_agents / "com.arthur-panel.web.plist"]
    assert [(f.path, f.mode) for f in plan.write] == [
        (MAC.env_file, 0o600),
        *((MAC.launch_agents / f"com.arthur-panel.{n}.plist", 0o600)
          for n in ("worker", "control", "logs"))]
    started = ("worker", "control", "logs")
    assert [c.argv for c in plan.start] == [argv for n in started for argv in (
        ("launchctl", "enable", f"gui/501/com.arthur-panel.{n}"),
        ("launchctl", "bootstrap", "gui/501",
         f"/Users/arthur/Library/LaunchAgents/com.arthur-panel.{n}.plist"))]
    assert not any(c.may_fail for c in plan.start)


def test_a_systemd_install_enables_and_restarts_what_was_running():
    procs = units.processes(NODE, "gamma", MAC, logs=False)
    env = units.service_environment("gamma", GIVEN, MAC)
    fresh = units.install_plan(SYSTEMD, uid=1000, paths=MAC, procs=procs, env=env, installed=[],
                               command="c")
    assert (fresh.stop, fresh.remove) == ([], [])
    assert [c.argv for c in fresh.start] == [
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", "arthur-panel-worker.service",
         "arthur-panel-control.service")]
    assert [(f.path, f.mode) for f in fresh.write] == [
        (MAC.env_file, 0o600),
        (MAC.systemd_dir / "arthur-panel-worker.service", 0o644),
        (MAC.systemd_dir / "arthur-panel-control.service", 0o644)]
    again = units.install_plan(SYSTEMD, uid=1000, paths=MAC, procs=procs, env=env,
                               installed=["control", "logs", "worker"], command="c")
    assert again.stop == [Command(("systemctl", "--user", "disable", "--now",
                                   "arthur-panel-logs.service"), may_fail=True)]
    assert again.remove == [MAC.systemd_dir / "arthur-panel-logs.service"]
    assert again.start[-1] == Command(("systemctl", "--user", "restart",
                                       "arthur-panel-worker.service",
                                       "arthur-panel-control.service"))


def test_uninstall_plans():
    mac = units.uninstall_plan(LAUNCHD, uid=501, paths=MAC, installed=["web"])
    assert mac.stop == [Command(("launchctl", "bootout", "gui/501/com.arthur-panel.web"), True)]
    assert mac.remove == [MAC.launch_agents / "com.arthur-panel.web.plist", MAC.env_file]
    linux = units.uninstall_plan(SYSTEMD, uid=1000, paths=MAC, installed=["control", "worker"])
    assert linux.stop == [Command(("systemctl", "--user", "disable", "--now",
                                   "arthur-panel-control.service", "arthur-panel-worker.service"),
                                  True)]
    assert linux.start == [Command(("systemctl", "--user", "daemon-reload"))]


# --- status ----------------------------------------------------------------------------------

# Shaped as `launchctl print gui/<uid>/<label>` prints a loaded agent (macOS 14): the service's
# own fields at one tab, its domain's and environment's deeper; the environment holds secrets.
LAUNCHCTL_PRINT = """gui/501/com.arthur-panel.web = {
\tactive count = 1
\tpath = /Users/arthur/Library/LaunchAgents/com.arthur-panel.web.plist
\ttype = LaunchAgent
\tstate = running

\tprogram = /Users/arthur/arthur-panel/.venv/bin/python
\tenvironment = {
\t\tREDIS_URL => redis://:redispw@alpha.local:6379/0
\t}

\tdomain = gui/501 [100009]
\truns = 2
\tpid = 4711
\tlast exit code = 1
\tspawn type = daemon (3)
\tjetsam properties = {
\t\tstate = active
\t}
}
"""


def test_launchctl_print_gives_state_pid_and_last_exit_and_nothing_else():
    state = units.launchd_state("web", 0, LAUNCHCTL_PRINT)
    assert state == units.ServiceState("web", "running", 4711, "1")
    assert "redispw" not in repr(state)
    assert units.launchd_state("web", 113, "") == units.ServiceState(
        "web", "not loaded", detail="launchctl knows no such service")
    never = units.launchd_state("beat", 0, "\tstate = not running\n\tlast exit code = (never "
                                           "exited)\n")
    assert (never.state, never.pid, never.last_exit) == ("not running", None, "(never exited)")


def test_systemctl_show_gives_state_pid_and_last_exit():
    shown = ("LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=812\n"
             "ExecMainStatus=0\nNRestarts=2\nUnitFileState=enabled\n")
    assert units.systemd_state("worker", 0, shown) == units.ServiceState(
        "worker", "active (running)", 812, "0", "enabled, 2 restart(s)")
    failed = units.systemd_state("control", 0, "LoadState=loaded\nActiveState=failed\n"
                                               "SubState=failed\nMainPID=0\nExecMainStatus=1\n")
    assert (failed.state, failed.pid, failed.last_exit) == ("failed", None, "1")
    assert units.systemd_state("x", 0, "LoadState=not-found\n").state == "not loaded"
    assert units.status_command(SYSTEMD, uid=1, name="web")[:4] == (
        "systemctl", "--user", "show", "arthur-panel-web.service")
    assert units.status_command(LAUNCHD, uid=501, name="web") == (
        "launchctl", "print", "gui/501/com.arthur-panel.web")
