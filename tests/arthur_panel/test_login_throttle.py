"""Login throttling: too many failures for an account or from an address lock it out, with a
message saying when to try again; admins unlock; a forged X-Forwarded-For changes nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

WRONG = {"username": "alice", "password": "wrong-password"}
RIGHT = {"username": "alice", "password": "alice-password-1"}


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 5


def log_in(client: Client, credentials: dict[str, str], path: str = "/login/",
           address: str = "10.0.0.1", **headers: str):
    return client.post(path, credentials, REMOTE_ADDR=address, headers=headers)


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(alice):
    client = Client()
    for _ in range(4):
        assert log_in(client, WRONG).status_code == 200
    locked = log_in(client, WRONG)
    assert locked.status_code == 429
    refused = log_in(client, RIGHT)
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    page = refused.content.decode()
    assert ("Too many failed logins for this account or from this address: try again in 15 "
            "minutes, or ask an admin to unlock it.") in page
    assert 'name="username"' in page and 'value="alice"' in page  # the form is still there


def test_the_account_is_locked_from_another_address_too(alice):
    for _ in range(5):
        log_in(Client(), WRONG, address="10.0.0.1")
    assert log_in(Client(), RIGHT, address="10.0.0.2").status_code == 429


def test_an_address_trying_many_accounts_is_locked(alice):
    for number in range(5):
        log_in(Client(), {"username": f"guess{number}", "password": "x"}, address="10.0.0.9")
    assert log_in(Client(), RIGHT, address="10.0.0.9").status_code == 429
    assert log_in(Client(), RIGHT, address="10.0.0.10").status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(alice):
    for number in range(5):
        log_in(Client(), {"username": f"guess{number}", "password": "x"},
               X_FORWARDED_FOR=f"203.0.113.{number}")
    assert log_in(Client(), RIGHT, X_FORWARDED_FOR="198.51.100.7").status_code == 429


def test_the_admin_login_is_throttled_the_same_way(admin_user):
    for _ in range(5):
        log_in(Client(), {"username": "admin", "password": "x"}, path="/admin/login/")
    response = log_in(Client(), {"username": "admin", "password": "password"},
                      path="/admin/login/")
    assert response.status_code == 429 and b"try again in 15 minutes" in response.content


def test_a_success_before_the_limit_forgets_the_failures(alice):
    client = Client()
    for _ in range(4):
        log_in(client, WRONG)
    assert log_in(client, RIGHT).status_code == 302
    client.logout()
    for _ in range(4):
        assert log_in(client, WRONG).status_code == 200


def test_an_admin_unlocks_an_account(alice, admin_user):
    for _ in range(5):
        log_in(Client(), WRONG)
    assert log_in(Client(), RIGHT).status_code == 429
    admin = Client()
    admin.force_login(admin_user)
    attempts = admin.get("/admin/axes/accessattempt/")
    assert attempts.status_code == 200 and b"alice" in attempts.content
    for attempt in AccessAttempt.objects.filter(username="alice"):
        page = f"/admin/axes/accessattempt/{attempt.pk}/delete/"
        assert admin.post(page, {"post": "yes"}).status_code == 302
    assert log_in(Client(), RIGHT).status_code == 302


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_running_panel_locks_out_and_says_when_to_try_again(live_stack, alice):
    with httpx.Client(base_url=live_stack.base_url, timeout=10) as browser:
        def attempt(password: str) -> httpx.Response:
            form = browser.get("/login/").text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
            return browser.post("/login/", data={"username": "alice", "password": password,
                                                 "csrfmiddlewaretoken": token})

        statuses = [attempt("wrong").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        refused = attempt("alice-password-1")
        assert refused.status_code == 429 and "sessionid" not in browser.cookies
        assert "try again in 15 minutes, or ask an admin to unlock it" in refused.text
        assert 'value="alice"' in refused.text
