"""The pure rules between roles, permissions and key scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cluster_app.access.rules import (
    ADMINISTER,
    OPERATE_EXO,
    ROLES,
    RUN_JOBS,
    effective_scopes,
    parse_expiry,
    parse_scopes,
    role_having,
    scope_for,
    scopes_beyond,
)

NOW = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


def test_each_role_has_every_permission_of_the_one_before():
    viewer, operator, admin = (set(permissions) for permissions in ROLES.values())
    assert viewer == set() and viewer < operator < admin


@pytest.mark.parametrize("permission, role", [
    (RUN_JOBS, "operator"), (OPERATE_EXO, "operator"), (ADMINISTER, "admin")])
def test_the_least_role_having_a_permission_is_named(permission, role):
    assert role_having(permission) == role


@pytest.mark.parametrize("permission, scope", [
    (None, "read"), (RUN_JOBS, "operate"), (OPERATE_EXO, "operate"), (ADMINISTER, "admin")])
def test_each_permission_falls_under_one_scope(permission, scope):
    assert scope_for(permission) == scope


@pytest.mark.parametrize("scopes, effective", [
    (["chat"], {"chat"}),
    (["read"], {"read"}),
    (["operate"], {"operate", "read"}),
    (["admin"], {"admin", "operate", "read"}),
    (["chat", "read"], {"chat", "read"}),
    ([], set()),
])
def test_wider_scopes_include_the_narrower_management_ones_but_never_chat(scopes, effective):
    assert effective_scopes(scopes) == effective


def test_scopes_parse_from_repeats_and_comma_lists_in_a_fixed_order():
    assert parse_scopes(["read,chat", " operate "]) == ["chat", "read", "operate"]


@pytest.mark.parametrize("values, message", [
    (["chat,root"], "Unknown scope root"), ([""], "at least one scope"), ([], "at least one")])
def test_bad_scopes_are_refused_with_the_valid_ones_named(values, message):
    with pytest.raises(ValueError, match=message) as refused:
        parse_scopes(values)
    assert "chat, read, operate, admin" in str(refused.value)


@pytest.mark.parametrize("held, beyond", [
    (set(), ["operate", "admin"]),
    ({RUN_JOBS, OPERATE_EXO}, ["admin"]),
    ({RUN_JOBS, OPERATE_EXO, ADMINISTER}, []),
])
def test_a_key_may_not_have_scopes_beyond_its_users_role(held, beyond):
    assert scopes_beyond(["chat", "read", "operate", "admin"], held.__contains__) == beyond


@pytest.mark.parametrize("text, expected", [
    ("30d", NOW + timedelta(days=30)), ("12h", NOW + timedelta(hours=12)),
    ("2w", NOW + timedelta(weeks=2)), ("90m", NOW + timedelta(minutes=90)),
    (" 7D ", NOW + timedelta(days=7)),
    ("2027-01-31", datetime(2027, 1, 31, tzinfo=UTC)),
    ("2027-01-31T08:30:00+01:00", datetime(2027, 1, 31, 7, 30, tzinfo=UTC)),
])
def test_an_expiry_is_a_span_from_now_or_an_iso_date(text, expected):
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text, message", [
    ("soon", "neither a span"), ("30y", "neither a span"), ("2020-01-01", "in the past")])
def test_a_bad_expiry_is_refused_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_expiry(text, NOW)
