"""GET /api/v1/logs/: recent lines from the rings, filtered by node, class and text."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from cluster_app.logs.classify import REBOOT_BOTH_MACS
from cluster_app.logs.follow import LogFollower

pytestmark = pytest.mark.django_db

ALPHA_LINES = [
    "[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] pid = 41233",
    "[ 2026-06-22 15:38:55.000 | INFO     | "
    "exo.worker.engines.mlx.utils_mlx:mlx_distributed_init:131 ] "
    "rank 0 MLX_JACCL_COORDINATOR: 0.0.0.0:53211",
    "RuntimeError: [jaccl] Recv failed with errno=60",
]
BETA_LINES = [
    "[ 2026-06-22 15:38:56.000 | WARNING  | exo.worker.main:plan_step:88 ] Runner slow to answer",
    "[ring] Receiving from socket 12 failed with errno 54",
]


@pytest.fixture
def logged(tmp_path, nodes, empty_log_rings) -> None:
    """ALPHA's and BETA's lines, through the follower, in this order: ALPHA's, then BETA's."""
    follower = LogFollower(publish=lambda groups, event: None)
    for node, lines in (("alpha", ALPHA_LINES), ("beta", BETA_LINES)):
        path = tmp_path / f"{node}.log"
        path.write_text("".join(f"{line}\n" for line in lines))
        follower.configure({node: [str(path)]})
        follower.step()
        follower.close()


def texts(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [line["text"] for line in response.json()]


def test_recent_lines_of_every_node_come_oldest_first(api_client, logged):
    assert texts(api_client.get("/api/v1/logs/")) == [
        "pid = 41233", "rank 0 MLX_JACCL_COORDINATOR: 0.0.0.0:53211",
        "RuntimeError: [jaccl] Recv failed with errno=60", "Runner slow to answer",
        "[ring] Receiving from socket 12 failed with errno 54"]


def test_a_line_has_its_fields(api_client, logged, tmp_path):
    line = api_client.get("/api/v1/logs/?node=alpha&kind=error").json()[0]
    assert line == {"node": "alpha", "file": str(tmp_path / "alpha.log"), "seq": 3,
                    "ts": line["ts"], "time": None, "level": None, "source": None,
                    "text": "RuntimeError: [jaccl] Recv failed with errno=60",
                    "classes": ["jaccl", "error"], "hint": REBOOT_BOTH_MACS}


@pytest.mark.parametrize(("query", "expected"), [
    ("node=beta", ["Runner slow to answer",
                   "[ring] Receiving from socket 12 failed with errno 54"]),
    ("kind=jaccl", ["rank 0 MLX_JACCL_COORDINATOR: 0.0.0.0:53211",
                    "RuntimeError: [jaccl] Recv failed with errno=60"]),
    ("kind=error&node=beta", ["[ring] Receiving from socket 12 failed with errno 54"]),
    ("kind=warning", ["Runner slow to answer"]),
    ("kind=metal", []),
    ("q=ERRNO", ["RuntimeError: [jaccl] Recv failed with errno=60",
                 "[ring] Receiving from socket 12 failed with errno 54"]),
    ("q=main_inner", ["pid = 41233"]),  # the source is searched too
    ("q=errno&limit=1", ["[ring] Receiving from socket 12 failed with errno 54"]),
    ("limit=2", ["Runner slow to answer", "[ring] Receiving from socket 12 failed with errno 54"]),
    ("node=&kind=&q=&limit=", None),  # empty values filter nothing
    ("node=gamma", []),
])
def test_filters(api_client, logged, query, expected):
    everything = texts(api_client.get("/api/v1/logs/"))
    assert texts(api_client.get(f"/api/v1/logs/?{query}")) == (everything if expected is None
                                                                 else expected)


@pytest.mark.parametrize(("query", "code"), [
    ("limit=0", "invalid"), ("limit=5001", "invalid"), ("limit=abc", "invalid"),
    ("kind=jazz", "invalid"), ("node=omega", "unknown_node"),
    ("node=no%20such", "invalid"), (f"q={'x' * 201}", "invalid"),
])
def test_bad_values_are_400_with_the_error_shape(api_client, logged, query, code):
    response = api_client.get(f"/api/v1/logs/?{query}")
    assert response.status_code == 400
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code


def test_the_most_allowed_is_5000(api_client, logged):
    assert len(texts(api_client.get("/api/v1/logs/?limit=5000"))) == 5


def test_no_lines_yet_is_an_empty_list(api_client, nodes, empty_log_rings):
    assert api_client.get("/api/v1/logs/").json() == []


def test_anonymous_callers_are_refused(nodes):
    response = APIClient().get("/api/v1/logs/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_a_token_is_enough(alice_token, logged):
    response = APIClient().get("/api/v1/logs/?kind=ring",
                               HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert texts(response) == ["[ring] Receiving from socket 12 failed with errno 54"]
