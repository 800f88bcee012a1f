"""Sign-in: password rules, session expiry, the account page's "log out everywhere", and the
login throttling per account in the user admin."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from cluster_app.account.lockouts import is_locked, recent_failures
from cluster_app.models import AuditEntry

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("password", ["short1x!", "1234567890123", "password123"])
def test_weak_passwords_are_refused(alice, password):
    with pytest.raises(ValidationError):
        validate_password(password, alice)


def test_a_passphrase_of_ten_characters_passes(alice):
    validate_password("violet-tram-oak", alice)


def test_a_session_lasts_the_configured_hours(alice, settings):
    client = signed_in(alice)
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 12 * 3600


def test_the_account_page_counts_the_sessions(alice):
    signed_in(alice)
    response = signed_in(alice).get("/account/")
    assert response.status_code == 200 and response.context["sessions"] == 2
    assert 'id="logout-everywhere"' in response.content.decode()


def test_log_out_everywhere_ends_every_session_of_the_user_only(alice, bob):
    other, bobs, mine = signed_in(alice), signed_in(bob), signed_in(alice)
    response = mine.post("/account/logout-everywhere/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert other.get("/").status_code == 302  # to the login page
    assert mine.get("/").status_code == 302
    assert bobs.get("/").status_code == 200
    entry = AuditEntry.objects.get(action="logout.everywhere")
    assert (entry.username, entry.address, entry.params) == ("alice", "127.0.0.1",
                                                             {"sessions": 2})


def test_log_out_everywhere_is_a_post(alice):
    assert signed_in(alice).get("/account/logout-everywhere/").status_code == 405


def fail_logins(username: str, times: int) -> None:
    client = Client()
    for _ in range(times):
        client.post("/login/", {"username": username, "password": "wrong-password"})


def test_the_user_admin_shows_failures_and_lock_and_unlocks(alice, bob, settings):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    fail_logins("bob", settings.AXES_FAILURE_LIMIT)
    assert recent_failures("bob") == settings.AXES_FAILURE_LIMIT and is_locked("bob")
    admin = signed_in(alice)
    page = admin.get("/admin/auth/user/")
    assert "Failed logins" in page.content.decode()
    bob_row = next(row for row in page.context["cl"].result_list if row.pk == bob.pk)
    user_admin = page.context["cl"].model_admin
    assert user_admin.login_failures(bob_row) == settings.AXES_FAILURE_LIMIT
    assert user_admin.locked_out(bob_row) is True
    response = admin.post("/admin/auth/user/", {"action": "unlock", "_selected_action": [bob.pk]})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="bob").exists() and not is_locked("bob")
    entry = AuditEntry.objects.get(action="user.unlock")
    assert (entry.username, entry.target) == ("alice", "bob")
    response = Client().post("/login/", {"username": "bob", "password": "bob-password-1"})
    assert response.status_code == 302
