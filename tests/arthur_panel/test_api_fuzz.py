"""A property-based run over the OpenAPI schema: schemathesis generates requests (valid and
invalid) for every /api/v1/ operation and sends them in-process to the Django app, with a token
of each role.

Every answer must be no 5xx, a status and content type the schema documents for the operation,
a body that conforms to the documented schema, and, for every error, the one error shape. A
viewer must get 403 on every operation only operators may call, whatever the input, and a
`chat` key on every operation.

The run is one test transaction per operation and role, so state-changing operations run for
real (jobs are created, catalogue rows edited and deleted) and are rolled back afterwards; the
jobs they create are queued on commit, which never comes, so nothing starts on a worker.
Callers are one parameter of `caller`: a viewer, an operator, an operator's `chat` key, which
must be refused every operation, and an operator's `read` key, which must be refused every
change (no scope leak); a new one is one more entry in `ROLES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, ResolverMatch, resolve
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cluster_app.access.permissions import OPERATE_EXO
from cluster_app.models import ApiToken, Node
from tests.conftest import grant_operator

pytestmark = pytest.mark.django_db

# Enough examples per operation and role to reach every error branch the schema describes,
# few enough for the whole run to stay well under a minute.
EXAMPLES = 10

# Operations that need the operator role today (`cluster_app.operate_exo`).
OPERATOR_ONLY = {
    ("POST", "/api/v1/cluster/start/"), ("POST", "/api/v1/cluster/stop/"),
    ("POST", "/api/v1/cluster/restart/"), ("POST", "/api/v1/nodes/{name}/start/"),
    ("POST", "/api/v1/nodes/{name}/stop/"),
}

EVERY = {("*", "*")}  # every operation: a chat key may call none of them
# Every change, whatever its path: a read key may only read.
WRITES = {(method, "*") for method in ("POST", "PUT", "PATCH", "DELETE")}

# Each caller: how to make its user from a plain account, its key's scopes (None: every scope
# its role allows), what it may not do, and the words its refusal must carry.
ROLES: dict[str, tuple[Callable[[Any], Any], list[str] | None, set[tuple[str, str]], str]] = {
    "viewer": (lambda user: user, None, OPERATOR_ONLY, OPERATE_EXO),
    "operator": (grant_operator, None, set(), ""),
    "operator's chat key": (grant_operator, ["chat"], EVERY, "scope_denied"),
    "operator's read key": (grant_operator, ["read"], WRITES, "scope_denied"),
}


# POSTs that change nothing (a read key may call them): the planner computes a plan.
NOT_CHANGES = {("POST", "/api/v1/plan/")}


def is_refused(refused: set[tuple[str, str]], method: str, path: str) -> bool:
    if {("*", "*"), (method, path)} & refused:
        return True
    return (method, "*") in refused and (method, path) not in NOT_CHANGES


# Schemathesis's coverage phase (every boundary value of every field) is left out: it takes
# minutes here, and test_bad_input.py walks those values on every route already.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True),
                                        config=CONFIG).include(path_regex="^/api/v1/")


@pytest.fixture(params=sorted(ROLES))
def caller(request: pytest.FixtureRequest, django_user_model: Any) -> tuple[str, str]:
    """(role, a valid token of a user with that role)."""
    make, scopes, *_ = ROLES[request.param]
    name = f"fuzz-{sorted(ROLES).index(request.param)}"
    user = make(django_user_model.objects.create_user(name))
    fields = {"scopes": scopes} if scopes else {}
    return request.param, ApiToken.issue(user=user, name="fuzz", **fields)[1]


@pytest.fixture
def app(exo_built_in_cards: str, hub: str) -> Iterator[WSGIHandler]:
    """The Django app, called in this test's transaction: the connection is not closed at each
    request's end, as Django's own test client arranges."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def assert_refused(response: Any, reason: str) -> None:
    """A 403 naming the missing permission or scope (`reason`, in its message or code); or a
    404 when the path names nothing (a node that does not exist, or a value its route does
    not accept), as for anyone."""
    if response.status_code == 404:
        match = resolve_or_none(unquote(urlsplit(response.request.url).path))
        assert match is None or not Node.objects.filter(name=match.kwargs.get("name")).exists()
        return
    assert response.status_code == 403, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert reason in (error["message"], error["code"]) or reason in error["message"], error


def resolve_or_none(path: str) -> ResolverMatch | None:
    try:
        return resolve(path)
    except Resolver404:
        return None


def assert_error_shape(response: Any) -> None:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"].get("message"), str), body
    assert isinstance(body["error"].get("code"), str), body


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_operation_answers_as_documented(case: Any, caller: tuple[str, str],
                                               app: WSGIHandler) -> None:
    role, token = caller
    response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (response.status_code, response.text[:500])
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                              response_schema_conformance])
    if response.status_code >= 400:
        assert_error_shape(response)
    _, _, refused, reason = ROLES[role]
    if is_refused(refused, case.method.upper(), case.path):
        assert_refused(response, reason)


@pytest.mark.parametrize(("method", "path"), sorted(OPERATOR_ONLY))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_is_refused_exactly_what_it_may_not_do(
        method: str, path: str, role: str, django_user_model: Any, nodes: dict[str, Node],
        app: WSGIHandler) -> None:
    """The fuzz rarely names a node that exists; here every protected operation is called
    with one, by each role, and only the roles that may not call it are refused."""
    make, scopes, refused, reason = ROLES[role]
    user = make(django_user_model.objects.create_user(f"role-{sorted(ROLES).index(role)}"))
    fields = {"scopes": scopes} if scopes else {}
    secret = ApiToken.issue(user=user, name="roles", **fields)[1]
    response = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").generic(method,
                                                                      path.format(name="alpha"))
    if is_refused(refused, method, path):
        assert_refused(response, reason)
    else:  # started, or refused for what the cluster is (BETA has no start command), not who
        assert response.status_code in (202, 400, 409), response.content
