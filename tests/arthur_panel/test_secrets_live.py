"""Secrets stay secret: a stack run with a Hugging Face token, a Redis password, a database
password (PostgreSQL) and API keys downloads a gated model, fails a job, answers a chat, an
error page, a bad request and a failed login, and follows an exo log that shows the token;
then no secret's value is anywhere it wrote: its jobs, its answers, its pages, its processes'
logs and its Redis keys (the log ring among them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from django.conf import settings

from cluster_app.logs import ring as logring
from cluster_app.models import ApiToken, Job, Node
from models_app.catalogue.services import model_add_from_hub
from tests import stack as live
from tests.follower import running_follower, stack_redis
from tests.stack import HUB_TOKEN, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
REDIS_DB = 6  # apart from the session stack's and the other modules' own
GATED = "sim-gated/tiny-bf16"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
WRONG_PASSWORD = "not-alices-password-7f3a"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="module")
def token_exo(run_dir: Path, hub_endpoint: str) -> Iterator[str]:
    """exo with the same token as the panel: it fetches the gated model's card itself."""
    with live.running_simulator("exo", run_dir / "exo", "--hf-endpoint", hub_endpoint,
                                env={"HF_TOKEN": HUB_TOKEN}) as url:
        yield url


@pytest.fixture(scope="module")
def token_stack(django_db_setup: None, token_exo: str, hub_endpoint: str,
                run_dir: Path) -> Iterator[live.Stack]:
    database = live.stack_database_url()
    with live.separate_stack(database, token_exo, hub_endpoint, run_dir / "stack",
                             redis_db=REDIS_DB, var_dir=run_dir / "var",
                             extra_env={"HF_TOKEN": HUB_TOKEN}) as running:
        yield running


@pytest.fixture
def hub_control(hub_endpoint: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{hub_endpoint}/_sim", timeout=10) as control:
        control.delete("/faults")
        yield control
        control.delete("/faults")


class Recorded(httpx.Client):
    """A client that keeps every answer's body, to be searched afterwards."""

    def __init__(self, bodies: list[str], **kwargs: Any) -> None:
        super().__init__(timeout=30, event_hooks={"response": [self._keep]}, **kwargs)
        self.bodies = bodies

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append(f"{response.request.method} {response.request.url} "
                           f"{response.status_code}\n{response.text}")


def secrets_of(stack: live.Stack, api_keys: list[str]) -> dict[str, str]:
    """Each secret the run used, by name."""
    found = {"HF_TOKEN": HUB_TOKEN, "login password": WRONG_PASSWORD,
             "Redis password": urlsplit(stack.env["REDIS_URL"]).password or ""}
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        found["database password"] = settings.DATABASES["default"]["PASSWORD"]
    found.update({f"API key {n}": key for n, key in enumerate(api_keys, start=1)})
    assert all(found.values()), found  # a secret that is empty would be found everywhere
    return found


def redis_values(url: str) -> Iterator[tuple[str, bytes]]:
    """Every key of the stack's Redis database with its value (all of a list's, hash's, set's)."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [part for pair in client.hgetall(key).items() for part in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        else:
            values = [repr(client.xrange(key)).encode()] if kind == "stream" else []
        yield key.decode(errors="replace"), key + b"\n" + b"\n".join(values)


def log_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    client.get("/login/")
    return client.post("/login/", data={"username": username, "password": password,
                                        "csrfmiddlewaretoken": client.cookies["csrftoken"]})


def ended(client: httpx.Client, job_id: int, timeout: float = 60) -> dict[str, Any]:
    return wait_until(lambda: (job := client.get(f"/api/v1/jobs/{job_id}/").json())["state"]
                      in ("succeeded", "failed", "cancelled") and job, timeout=timeout)


def test_no_secret_appears_anywhere_after_a_run(token_stack, hub_control, hub_endpoint, run_dir,
                                                 settings, operator, nodes, guide_models):
    settings.HF_ENDPOINT, settings.HF_TOKEN = hub_endpoint, HUB_TOKEN
    gated = model_add_from_hub(repo_id=GATED)
    keys = [ApiToken.issue(user=operator, name=f"key {n}")[1] for n in (1, 2)]
    bodies: list[str] = []
    token_api = Recorded(bodies, base_url=token_stack.base_url,
                         headers={"Authorization": f"Bearer {keys[0]}"})
    browser = Recorded(bodies, base_url=token_stack.base_url)

    # A failed login, then a good one: the pages are read with its session.
    assert "Wrong username or password" in log_in(browser, "alice", WRONG_PASSWORD).text
    assert log_in(browser, "alice", "alice-password-1").status_code == 302

    # The gated model downloads with the token.
    started = token_api.post(f"/api/v1/models/{gated.slug}/download/", json={"node": "alpha"})
    assert started.status_code == 201, started.text
    done = ended(token_api, started.json()["jobs"][0]["id"])
    assert done["state"] == "succeeded", done

    # A download the hub keeps refusing fails, with the hub's answer in its error.
    hub_control.post("/faults", json={"kind": "error", "repo": GATED, "path": "config.json",
                                      "status": 503, "methods": ["GET"], "times": None})
    started = token_api.post(f"/api/v1/models/{gated.slug}/download/", json={"node": "beta"})
    assert started.status_code == 201, started.text
    failed = ended(token_api, started.json()["jobs"][0]["id"])
    assert failed["state"] == "failed" and "config.json" in failed["error"], failed
    hub_control.delete("/faults")

    # A chat through the proxy with the second key, on a model loaded for it.
    load = token_api.post("/api/v1/instances/", json={"model": LLAMA_1B})
    assert load.status_code in (200, 201, 202), load.text
    assert ended(token_api, load.json()["id"])["state"] == "succeeded"
    chat = httpx.post(f"{token_stack.base_url}/v1/chat/completions", timeout=60,
                      headers={"Authorization": f"Bearer {keys[1]}"},
                      json={"model": "llama-3.2-1b", "max_tokens": 8, "stream": True,
                            "messages": [{"role": "user", "content": "Hello"}]})
    assert chat.status_code == 200 and "data: [DONE]" in chat.text
    bodies.append(chat.text)

    # Errors: a page and a route that do not exist, bad input, a refused key.
    assert browser.get("/no-such-page/").status_code == 404
    assert token_api.get("/api/v1/no-such-route/").status_code == 404
    assert token_api.post(f"/api/v1/models/{gated.slug}/download/", content=b"{",
                          headers={"Content-Type": "application/json"}).status_code == 400
    assert token_api.post("/api/v1/plan/", json={"models": 5}).status_code == 400
    assert httpx.get(f"{token_stack.base_url}/api/v1/jobs/",
                     headers={"Authorization": f"Bearer {keys[0]}x"}).status_code == 401

    # exo writes the token in its log (as a library's debug line might): the ring masks it.
    marker = uuid.uuid4().hex
    exo_log = run_dir / "exo-node.log"  # exo's own, not one the panel writes
    Node.objects.filter(name="alpha").update(exo_log_files=[str(exo_log)])
    with running_follower(token_stack, token_stack.log_dir / "follow.log", "alpha",
                          reload_seconds=0.5):
        with exo_log.open("a") as handle:
            handle.write(f"[ 2026-12-04 22:00:00.000 | DEBUG | hub ] {marker} Authorization: "
                         f"Bearer {HUB_TOKEN}\n")
        ring = stack_redis(token_stack)
        wait_until(lambda: any(marker.encode() in line
                               for line in ring.lrange(f"{logring.PREFIX}:lines:alpha", 0, -1)))

    # What the API and the pages show of it all.
    jobs = token_api.get("/api/v1/jobs/").json()
    for job in Job.objects.all():
        token_api.get(f"/api/v1/jobs/{job.pk}/")
        browser.get(f"/jobs/{job.pk}/")
    assert {done["id"], failed["id"]} <= {job["id"] for job in jobs}
    for path in ("/api/v1/nodes/", "/api/v1/cluster/", "/api/v1/health/",
                 "/api/v1/health/doctor/", "/api/v1/usage/", "/api/v1/logs/",
                 "/api/v1/downloads/", "/api/v1/models/", f"/api/v1/models/{gated.slug}/"):
        assert token_api.get(path).status_code == 200, path
    for path in ("/", "/jobs/", "/cluster/", "/models/", f"/models/{gated.slug}/", "/downloads/",
                 "/health/", "/logs/", "/usage/", "/playground/", "/integrations/"):
        assert browser.get(path).status_code == 200, path
    token_api.close()
    browser.close()

    places: dict[str, bytes] = {}
    for job in Job.objects.all():
        places[f"job {job.pk} ({job.kind})"] = repr(
            [job.params, job.message, job.log_tail, job.detail, job.error, job.result]).encode()
    for n, body in enumerate(bodies):
        places[f"answer {n}: {body.partition(chr(10))[0]}"] = body.encode()
    for log in sorted(token_stack.log_dir.glob("*.log")):
        places[f"log {log.name}"] = log.read_bytes()
    places.update({f"redis {key}": value
                   for key, value in redis_values(token_stack.env["REDIS_URL"])})
    assert any(name.startswith("redis ") for name in places)
    assert {"log web.log", "log worker.log", "log control.log", "log beat.log",
            "log follow.log"} <= set(places)

    # The search can fail: the places hold the run (the gated repo's name is in its jobs, its
    # answers and its logs, exo's line in the log ring).
    needles = {"repo": GATED, "exo's line": marker}
    seen = {hit.split(" in ")[1].split()[0] for hit in found_in(needles, places)}
    assert seen == {"job", "answer", "log", "redis"}, seen
    assert found_in(secrets_of(token_stack, keys), places) == []


def found_in(values: dict[str, str], places: dict[str, bytes]) -> list[str]:
    """Where each of `values` occurs: "<its name> in <the place>"."""
    return [f"{name} in {place}" for name, value in values.items()
            for place, content in places.items() if value.encode() in content]
