"""Every /api/v1/ route, fed bad input: never a 500, and every error is
`{"error": {"message": "...", "code": "..."}}` JSON (ARCHITECTURE.md, "The API contract").

Routes come from Django's URL resolver and request fields from each view's request serializer
(the one its `extend_schema` names), so a new route or field is covered without editing this file.
A route with a new path parameter fails `test_every_path_parameter_has_values` until it gets
values below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework import fields as f
from rest_framework import relations
from rest_framework.test import APIClient

from cluster_app.models import ApiToken, Job
from models_app.conversations.services import conversation_create, preset_create
from models_app.models import Benchmark

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
HUGE = "x" * 10_000
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
JSON = "application/json"

# Path parameters: a real value (job_id and key_id are the job and Alice's key each test
# creates; no instance is loaded, so a well-formed id of none stands in for one) and values
# naming nothing.
EXISTING = {"job_id": None, "key_id": None, "benchmark_id": None, "conversation_id": None,
            "preset_id": None, "name": "alpha", "slug": "llama-3.2-1b",
            "instance_id": "00000000-0000-4000-8000-000000000000"}
MISSING = {"job_id": ["999999", "9" * 30], "benchmark_id": ["999999", "9" * 30],
           "name": ["omega", "n" * 10_000],
           "slug": ["no-such-model", "%00", "s" * 10_000],
           "instance_id": ["nope", "%00", "i" * 10_000],
           "key_id": ["00000000-0000-4000-8000-000000000001", "nope", "k" * 10_000],
           "conversation_id": ["999999", "9" * 30], "preset_id": ["999999", "9" * 30]}
# Ids that try to leave their place (exo has no authentication: `../_sim/faults` in an instance
# id once became `DELETE /_sim/faults` on exo): dot segments, encoded and double-encoded
# slashes and dots, and ids far longer than any real one.
TRAVERSAL = ["..", "../_sim/faults", "..%2F_sim%2Ffaults", "%2e%2e%2f_sim%2ffaults",
             "%2E%2E/%2E%2E/state", "%252e%252e%252f_sim", "a%2Fb", "a%5Cb", "..%5C..%5Cstate",
             "x" * 300, "3f9a2c1b-5d4e-4f6a-8b7c-9d0e1f2a3b4c" * 20]

# A valid request per (route name, method), so each bad field is checked on its own and the
# service behind the validation is reached too; routes not listed get `{}`.
VALID_BODY = {
    ("api-jobs", "post"): {"kind": "ping", "node": "alpha"},
    ("api-instances", "post"): {"model": LLAMA_1B},
    ("api-models", "post"): {"repo_id": "sim-org/tiny-4bit"},
    ("api-model", "patch"): {"notes": "fine"},
    ("api-model-download", "post"): {"node": "alpha"},
    ("api-model-download", "delete"): {"node": "alpha"},
    ("api-plan", "post"): {"models": ["llama-3.2-1b"], "context_tokens": 65536},
    ("api-keys", "post"): {"name": "script", "scopes": ["chat"]},
    ("api-benchmarks", "post"): {"model": "llama-3.2-1b", "prompt_lengths": [512],
                                 "generation_lengths": [16], "runs": 1},
    ("api-conversation-messages", "post"): {"parent": None, "role": "user", "content": "Hi"},
    ("api-presets", "post"): {"name": "Terse", "prompt": "Be terse."},
}
VALID_QUERY = {"api-instance-previews": f"model={LLAMA_1B}"}
# Routes only admins may read (others get a 403 before anything is looked up).
ADMINS_ONLY = {"api-audit"}

# (body, content type, status a view that reads its body must answer)
BAD_BODIES = [("{not json", JSON, 400), ("[1, 2]", JSON, 400), ("null", JSON, 400),
              ('"text"', JSON, 400), ('{"a": NaN}', JSON, 400), ("hello", "text/plain", 415),
              ("a=1&b=%00", "application/x-www-form-urlencoded", 415)]
DEEP = "[" * 10_000 + "]" * 10_000
ODD_QUERY_NAMES = ["limit", "tier", "node", "kind", "state", "q", "role", "model", "format", "zz"]
ODD_QUERIES = ["limit=abc&tier=%00&zz=1", "limit=-1&offset=-1", f"limit={'9' * 30}&tier={'9' * 30}",
               *["&".join(f"{name}={value}" for name in ODD_QUERY_NAMES)
                 for value in ("abc", "%00", "-1", "", HUGE, "%ff%fe", "a&a=b")]]
WRONG = {  # per JSON type of a field: values of the wrong type, null, huge, negative, empty
    "string": [12345, -1, ["a"], {"a": 1}, None, True, HUGE, "\u0000", "", *TRAVERSAL],
    "integer": ["abc", -1, -(10**30), 10**30, 1.5, None, True, [1], HUGE, "1e400"],
    "number": ["abc", -1e308, 10**30, None, [1], "1e400"],
    "boolean": ["maybe", 2, None, [True]],
    "array": ["abc", 12345, None, {"a": 1}, [None], [12345], [HUGE], [{"a": 1}], ["a"] * 10_000],
    "object": ["abc", [1, 2], None, 12345, {HUGE: HUGE}],
}

def json_type(field: f.Field) -> str:
    kinds = [(f.BooleanField, "boolean"), (f.IntegerField, "integer"),
             ((f.FloatField, f.DecimalField), "number"),
             ((f.ListField, f.MultipleChoiceField, relations.ManyRelatedField), "array"),
             ((f.DictField, f.JSONField), "object")]
    return next((name for cls, name in kinds if isinstance(field, cls)), "string")


def api_routes(resolver: Any = None, prefix: str = "") -> Iterator[tuple[str, str, type]]:
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from api_routes(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            yield route, entry.name or route, entry.callback


GENERATOR = SchemaGenerator()  # the views it creates refer to it weakly


def request_fields(callback: Any, method: str) -> dict[str, str] | None:
    """Writable fields of the serializer the view documents for `method`, by JSON type; None if
    it documents none (the view does not read a body)."""
    schema = GENERATOR.create_view(callback, method.upper()).schema
    schema.method, schema.path = method.upper(), "/"
    serializer = schema.get_request_serializer()
    if serializer is None:
        return None
    instance = serializer() if isinstance(serializer, type) else serializer
    return {name: json_type(field) for name, field in getattr(instance, "fields", {}).items()
            if not field.read_only}


def allowed(callback: Any) -> list[str]:
    return [m for m in METHODS if hasattr(getattr(callback, "view_class", None), m)]


def case(*values: Any, id: str) -> Any:
    return pytest.param(*values, id=id)


ROUTES = sorted(api_routes())
FIELDS = {(route, method): request_fields(callback, method)
          for route, _, callback in ROUTES for method in allowed(callback)}
CASES = [(route, name, method) for route, name, callback in ROUTES for method in allowed(callback)]


def cases(keep: Any = lambda route, name, method: True) -> list[Any]:
    return [case(*c, id=f"{c[2].upper()} /{c[0]}") for c in CASES if keep(*c)]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """`alice` is created per test; the production hasher would spend most of the run on her."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def real(nodes: Any, guide_models: None, operator: Any) -> dict[str, str]:
    job = Job.objects.create(kind="ping", node=nodes["alpha"], params={})
    key, _ = ApiToken.issue(user=operator, name="script")
    benchmark = Benchmark.objects.create(model_id=LLAMA_1B, mode="placements",
                                         electricity_usd_per_kwh=Decimal("0.30"))
    conversation = conversation_create(owner=operator, title="Sky")
    preset = preset_create(owner=operator, name="Mine", prompt="Be brief.")
    return {**EXISTING, "job_id": str(job.pk), "key_id": str(key.pk),
            "benchmark_id": str(benchmark.pk), "conversation_id": str(conversation.pk),
            "preset_id": str(preset.pk)}


def fill(route: str, values: dict[str, str]) -> str:
    return "/" + PARAM.sub(lambda match: values[match.group(1)], route)


def send(client: APIClient, method: str, path: str, body: Any = None,
         content_type: str = JSON) -> Any:
    """One request, rolled back afterwards so a DELETE or a created job does not change the next."""
    data = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    with transaction.atomic():
        response = client.generic(method.upper(), path, data, content_type=content_type)
        transaction.set_rollback(True)
    return response


def contract_error(response: Any) -> str | None:
    """What is wrong with this response under the contract, or None."""
    status = response.status_code
    if status == 500 or not 100 <= status < 600:
        return f"status {status}: {response.content[:300]!r}"
    if status < 400:
        return None
    if not re.match(r"application/([\w.]+\+)?json", response.get("Content-Type", "")):
        return f"status {status} is {response.get('Content-Type')}: {response.content[:200]!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"status {status} body does not parse: {response.content[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if set(body) != {"error"} or not isinstance(error, dict) or set(error) != {"message", "code"}:
        return f"status {status} has the wrong shape: {body!r:.300}"
    if not (isinstance(error["message"], str) and error["message"].strip()
            and isinstance(error["code"], str) and error["code"]):
        return f"status {status} has an empty message or code: {body!r:.300}"
    return None


def bad_requests(valid: dict[str, Any], fields: dict[str, str] | None) -> Iterator[tuple]:
    """(body, content type, status expected or None): bad documents, then each field wrong."""
    for body, content_type, status in BAD_BODIES:
        yield body, content_type, status if fields is not None else None
    for field, kind in (fields or {}).items():
        for value in WRONG[kind]:
            if value == "1e400":  # a number JSON allows and a float cannot hold: inf
                yield json.dumps({**valid, field: 4242}).replace("4242", "1e400"), JSON, None
            else:
                yield {**valid, field: value}, JSON, None
    huge = {field: HUGE for field, kind in (fields or {}).items() if kind == "string"}
    yield {**valid, **huge}, JSON, None


def test_routes_and_fields_are_discovered():
    routes = {route for route, _, _ in ROUTES}
    assert {"api/v1/jobs/", "api/v1/jobs/<int:job_id>/cancel/", "api/v1/nodes/<slug:name>/history/",
            "api/v1/models/<str:slug>/download/", "api/v1/plan/", "api/v1/docs/"} <= routes
    assert FIELDS["api/v1/plan/", "post"] == {"models": "array", "context_tokens": "integer",
                                              "live": "boolean"}
    assert FIELDS["api/v1/models/<str:slug>/", "patch"]["size_bytes"] == "integer"
    assert "slug" not in FIELDS["api/v1/models/<str:slug>/", "patch"]  # read-only
    assert FIELDS["api/v1/jobs/", "get"] is None


def test_every_path_parameter_has_values():
    for route, _, _ in ROUTES:
        unknown = set(PARAM.findall(route)) - (set(EXISTING) & set(MISSING))
        assert not unknown, f"/{route}: add EXISTING and MISSING values for {unknown}"


@pytest.mark.parametrize(("route", "name", "method"), cases())
def test_bad_input_keeps_the_error_contract(api_client, real, exo_url, hub, route, name, method,
                                            django_capture_on_commit_callbacks):
    path, valid = fill(route, real), VALID_BODY.get((name, method), {})
    requests = [(path, *bad) for bad in bad_requests(valid, FIELDS[route, method])]
    requests += [(f"{path}?{query}", valid or None, JSON, None) for query in ODD_QUERIES]
    problems = []
    with django_capture_on_commit_callbacks(execute=False):
        for url, body, content_type, expected in requests:
            response = send(api_client, method, url, body, content_type)
            problem = contract_error(response) or (
                f"{response.status_code}, not {expected}"
                if expected and response.status_code != expected else None)
            if problem:
                problems.append(f"{method.upper()} {url[:80]} {content_type} {str(body)[:60]!r}: "
                                f"{problem}")
    assert len(requests) >= len(BAD_BODIES) + len(ODD_QUERIES)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("route", "name", "method"),
                         cases(lambda route, name, method: FIELDS[route, method] is not None))
def test_deeply_nested_json_is_a_400(api_client, real, route, name, method):
    response = send(api_client, method, fill(route, real), DEEP)
    assert contract_error(response) is None, contract_error(response)
    assert response.status_code == 400


@pytest.mark.parametrize(("route", "name", "method"),
                         cases(lambda route, name, method: PARAM.search(route)))
def test_missing_path_objects_are_404_json(api_client, real, exo_url, hub, route, name, method,
                                           django_capture_on_commit_callbacks):
    problems = []
    with django_capture_on_commit_callbacks(execute=False):
        for param in PARAM.findall(route):
            for value in MISSING[param]:
                path = fill(route, {**real, param: value})
                response = send(api_client, method, path, VALID_BODY.get((name, method)))
                status = response.status_code
                if problem := contract_error(response) or (status != 404 and f"{status}, not 404"):
                    problems.append(f"{method.upper()} {path[:100]}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("route", "method"), [
    case(route, method, id=f"{method.upper()} /{route}")
    for route, name, callback in ROUTES
    for method in [next(m for m in ("put", "patch", "delete", "post", "get")
                        if m not in allowed(callback))]])
def test_a_method_the_route_does_not_allow_is_405_json(api_client, real, route, method):
    for body in (None, "{not json", {"id": None}):
        response = send(api_client, method, fill(route, real), body)
        assert contract_error(response) is None, contract_error(response)
        assert response.status_code == 405, (method, route, response.status_code)
        assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(("route", "name", "method"), cases())
def test_a_host_the_panel_does_not_answer_to_is_a_400_json(api_client, real, route, name,
                                                           method):
    # Django refuses these before any view runs (the API's fuzz once sent `Host: S8ZN?Ek`).
    for host in ("S8ZN?Ek", "panel.example"):
        response = api_client.generic(method.upper(), fill(route, real), HTTP_HOST=host)
        assert contract_error(response) is None, contract_error(response)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "bad_request" and "DJANGO_ALLOWED_HOSTS" in error["message"]


@pytest.mark.parametrize(("path", "json_answer"), [
    ("/v1/models", True), ("/v1/chat/completions", True), ("/", False), ("/login/", False)])
def test_a_bad_host_is_json_on_the_proxy_and_djangos_page_elsewhere(api_client, path, json_answer):
    response = api_client.get(path, HTTP_HOST="S8ZN?Ek")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json" if json_answer else "text/html")


@pytest.mark.parametrize(("route", "name", "method"), cases())
@pytest.mark.parametrize(("authorization", "code"), [(None, "not_authenticated"),
                                                     ("Bearer nope", "authentication_failed"),
                                                     ("Bearer " + HUGE, "authentication_failed")],
                         ids=["no credentials", "unknown token", "huge token"])
def test_anonymous_requests_are_401_json(real, route, name, method, authorization, code):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for body in (VALID_BODY.get((name, method)), "{not json"):
        response = send(client, method, fill(route, real), body)
        assert contract_error(response) is None, contract_error(response)
        assert (response.status_code, response.json()["error"]["code"]) == (401, code)


@pytest.mark.parametrize(("route", "name", "method"), cases(
    lambda route, name, method: method == "get" and "instance_id" not in PARAM.findall(route)))
def test_real_values_reach_real_objects(api_client, alice, real, exo_url, route, name, method):
    """The matrix exercises real objects, not only 404s: each GET with the real values is a 200."""
    if name in ADMINS_ONLY:
        alice.is_staff = True
        alice.save()
    query = VALID_QUERY.get(name)
    response = api_client.get(fill(route, real) + (f"?{query}" if query else ""))
    assert response.status_code == 200, (route, response.content[:300])


@pytest.mark.parametrize(("route", "name", "method"),
                         cases(lambda route, name, method: FIELDS[route, method] is not None))
def test_a_body_over_the_limit_is_a_413(operator, real, exo_url, route, name, method, settings):
    client = APIClient()
    client.force_login(operator)
    body = json.dumps({"models": ["x" * (20 * 1024 * 1024)]})
    response = send(client, method, fill(route, real), body)
    assert contract_error(response) is None, contract_error(response)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes" in error["message"]


@pytest.mark.parametrize(("route", "name", "method"),
                         cases(lambda route, name, method: PARAM.search(route)))
def test_ids_that_try_to_leave_their_path_segment_are_4xx_json(api_client, real, exo_url, hub,
                                                              route, name, method,
                                                              django_capture_on_commit_callbacks):
    problems = []
    with django_capture_on_commit_callbacks(execute=False):
        for param in PARAM.findall(route):
            for value in TRAVERSAL:
                path = fill(route, {**real, param: value})
                response = send(api_client, method, path, VALID_BODY.get((name, method)))
                status = response.status_code
                if problem := contract_error(response) or (
                        not 400 <= status < 500 and f"{status}, not 4xx"):
                    problems.append(f"{method.upper()} {path[:100]}: {problem}")
    assert not problems, "\n".join(problems)


# Job kinds whose parameters name something of exo's, by the parameter that does.
JOB_IDS = [("instance.unload", "instance_id"), ("instance.load", "model_id")]


@pytest.mark.parametrize(("kind", "param"), JOB_IDS)
def test_job_params_that_name_exos_objects_are_checked_like_the_own_endpoints(
        api_client, real, kind, param, django_capture_on_commit_callbacks):
    problems = []
    with django_capture_on_commit_callbacks(execute=False):
        for value in TRAVERSAL:
            response = send(api_client, "post", "/api/v1/jobs/",
                            {"kind": kind, "params": {param: value}})
            if problem := contract_error(response) or (
                    response.status_code != 400 and f"{response.status_code}, not 400"):
                problems.append(f"{kind} {param}={value[:40]!r}: {problem}")
            elif param not in response.json()["error"]["message"]:
                problems.append(f"{kind} {param}={value[:40]!r}: {response.json()}")
    assert not problems, "\n".join(problems)
