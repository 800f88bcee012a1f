"""docker-compose.yml is valid Compose and runs what the Procfile runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from compose_spec import PyCompose
from honcho.environ import parse_procfile

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    # Compose resolves YAML merge keys (<<) before validating; PyYAML does the same here.
    plain = yaml.safe_dump(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))
    return PyCompose.from_yaml(plain).to_dict()


def expand(command: str, env: dict[str, str]) -> list[str]:
    """A Procfile line with `${NAME:-default}` filled in from `env`, split as a shell would."""
    filled = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), command)
    return shlex.split(filled)


def test_compose_file_is_valid_compose():
    services = compose()["services"]
    assert {"redis", "db", "web", "worker", "control", "beat"} <= set(services)


def test_an_invalid_compose_file_is_caught():
    with pytest.raises(ValueError):
        PyCompose.from_yaml("services:\n  web:\n    imag: x\n")


@pytest.mark.parametrize("name", ["web", "worker", "control", "beat"])
def test_compose_runs_the_procfiles_command(name):
    procfile = parse_procfile((ROOT / "Procfile").read_text()).processes
    service = compose()["services"][name]
    assert service["command"] == expand(procfile[name], service.get("environment", {}))
    assert service["build"] == "." or service["build"].get("context") == "."


def test_every_procfile_process_is_a_service_or_the_compose_file_says_why_not():
    procfile = parse_procfile((ROOT / "Procfile").read_text()).processes
    services = compose()["services"]
    text = (ROOT / "docker-compose.yml").read_text()
    for name, command in procfile.items():
        if name in services:
            assert services[name]["command"] == expand(command, services[name].get(
                "environment", {})), name
        else:
            assert re.search(rf"^\s*# No `{name}` service: \S", text, re.M), (
                f"the Procfile runs `{name}`: add a compose service, or say why there is none")


def test_every_panel_service_uses_the_same_image_and_database():
    services = compose()["services"]
    panel = [services[name] for name in ("migrate", "web", "worker", "control", "beat")]
    assert len({service["image"] for service in panel}) == 1
    assert all(service["environment"]["DATABASE_URL"].startswith("postgres://")
               for service in panel)
    # Redis is on another host (its container): the panel refuses it without a password.
    assert all(service["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
               for service in panel)


def test_redis_gets_its_password_on_stdin_not_its_command_line():
    redis = compose()["services"]["redis"]
    shell, flag, script = redis["command"]
    assert (shell, flag) == ("sh", "-c") and script.endswith("| exec redis-server -")
    assert "requirepass %s" in script and "$REDIS_PASSWORD" in script
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")


def test_the_control_worker_has_a_lane_of_its_own_with_room_for_a_cluster_job():
    """A cluster job waits for its node jobs on the same control worker: two slots at least."""
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    worker, control = (expand(processes[name], {}) for name in ("worker", "control"))
    assert "-Q" not in worker  # the bulk worker: `default` and the node queues
    assert control[control.index("-Q") + 1] == "control"
    assert control[control.index("--pool") + 1] == "threads"
    assert int(control[control.index("--concurrency") + 1]) >= 2
    assert control[control.index("-n") + 1] != "celery@%h"  # its own name beside the worker
