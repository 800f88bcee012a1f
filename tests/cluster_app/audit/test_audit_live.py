"""The audit log through the running stack: a cluster stop by API token and failed logins
show with their users and addresses; "log out everywhere" ends another session and closes
its socket."""

from __future__ import annotations

import re

import httpx
import pytest

from cluster_app.jobs.consumers import CLOSE_UNAUTHENTICATED
from cluster_app.models import ApiToken, AuditEntry, Job
from tests.cluster_app.access.test_websockets_live import browser, close_code, opened
from tests.stack import api, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def form_post(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Post a form of the page at `page`, with its CSRF token, as a browser does."""
    token = CSRF.search(client.get(page).text)
    assert token, f"no form on {page}"
    return client.post(action, data={**data, "csrfmiddlewaretoken": token.group(1)},
                       headers={"Referer": f"{client.base_url}{page}"})


def test_a_stop_by_token_and_failed_logins_are_in_the_log(live_stack, nodes, operator,
                                                          operator_token, bob):
    with api(live_stack, operator_token) as client:
        response = client.post("/api/v1/cluster/stop/")
        assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    for _ in range(2):
        with httpx.Client(base_url=live_stack.base_url, timeout=10) as anonymous:
            page = form_post(anonymous, "/login/", "/login/",
                             {"username": "bob", "password": "not-bobs-password"})
            assert page.status_code == 200 and "Wrong username or password" in page.text

    bob.is_staff = True
    bob.save()
    _, secret = ApiToken.issue(user=bob, name="auditor")
    with api(live_stack, secret) as client:
        listed = client.get("/api/v1/audit/?action=cluster.stop").json()["results"]
        failed = client.get("/api/v1/audit/?action=login.failed&user=").json()["results"]
    (stop,) = listed
    token = ApiToken.objects.get_for_secret(operator_token)
    assert token is not None
    assert (stop["username"], stop["address"], stop["target"], stop["outcome"]) == (
        "alice", "127.0.0.1", "cluster", "ok")
    assert (stop["token_id"], stop["token_hint"]) == (str(token.pk), token.hint)
    assert stop["params"]["job"] == job_id
    assert [(f["target"], f["address"], f["outcome"]) for f in failed] == [
        ("bob", "127.0.0.1", "refused")] * 2
    assert operator_token not in str(listed) and "not-bobs-password" not in str(failed)
    with httpx.Client(base_url=live_stack.base_url, timeout=10,
                      headers=browser(live_stack, bob)) as page:
        rows = page.get("/audit/?action=cluster.stop").text
    assert "<td>alice</td>" in rows and "<td>127.0.0.1</td>" in rows
    assert f"<td>{token.hint}</td>" in rows
    # Leave no stop running behind the next test.
    wait_until(lambda: Job.objects.get(pk=job_id).state in Job.FINISHED, timeout=60)


def session_of(headers: dict[str, str]) -> dict[str, str]:
    """The session cookie of `browser()`'s headers, for an httpx client's cookie jar (which
    then keeps the CSRF cookie beside it)."""
    name, _, value = headers["Cookie"].partition("=")
    return {name: value}


def test_log_out_everywhere_ends_another_session_and_closes_its_socket(live_stack,
                                                                        stack_layer, alice):
    other = browser(live_stack, alice)
    with opened(f"{live_stack.ws_url}/ws/jobs/", other) as socket, \
            httpx.Client(base_url=live_stack.base_url, timeout=10,
                         cookies=session_of(browser(live_stack, alice))) as mine:
        response = form_post(mine, "/account/", "/account/logout-everywhere/", {})
        assert response.status_code == 302 and response.headers["location"] == "/login/"
        assert close_code(socket) == CLOSE_UNAUTHENTICATED
    with httpx.Client(base_url=live_stack.base_url, timeout=10,
                      cookies=session_of(other)) as stale:
        assert stale.get("/").status_code == 302
    entry = AuditEntry.objects.get(action="logout.everywhere")
    assert (entry.username, entry.address, entry.params) == ("alice", "127.0.0.1",
                                                             {"sessions": 2})
