"""The OpenAPI schema describes every API route: each path Django routes under /api/v1/ and /v1/
(found by walking the URL resolver, so a new route is covered without editing this file) with
its methods, its security schemes and its error answers in the one error shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from arthur_panel.schema import ERROR_REF, error_statuses

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
API_PREFIXES = ("/api/v1/", "/v1/")
# The schema and its page describe the API; they are not part of it.
NOT_OPERATIONS = {"/api/v1/schema/", "/api/v1/docs/"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def routes(patterns: list[Any] | None = None, prefix: str = "/") -> Iterator[tuple[str, Any]]:
    """(OpenAPI path, view) for every route Django serves."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + PARAM.sub(r"{\1}", str(entry.pattern))
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def api_routes() -> dict[str, Any]:
    return {path: view for path, view in routes()
            if path.startswith(API_PREFIXES) and path not in NOT_OPERATIONS}


def view_methods(view: Any) -> set[str]:
    """The methods a DRF view answers; for a plain Django view, none known here."""
    cls = getattr(view, "cls", None)
    return {method for method in HTTP_METHODS if cls is not None and hasattr(cls, method)}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_walk_finds_the_api_and_the_proxy() -> None:
    found = api_routes()
    assert "/api/v1/jobs/{job_id}/cancel/" in found
    assert "/v1/chat/completions" in found
    assert view_methods(found["/api/v1/models/{slug}/"]) == {"get", "patch", "delete"}


def test_every_api_route_and_method_is_in_the_schema(schema: dict[str, Any]) -> None:
    missing = [(path, method) for path, view in api_routes().items()
               for method in view_methods(view) or {None}
               if path not in schema["paths"]
               or (method is not None and method not in schema["paths"][path])]
    assert missing == []


def test_every_operation_takes_a_token_or_a_session(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {
        "type": "http", "scheme": "bearer", "description": schemes["bearerToken"]["description"]}
    assert schemes["cookieAuth"]["in"] == "cookie"
    for path, method, operation in operations(schema):
        assert operation["security"] == [{"bearerToken": []}, {"cookieAuth": []}], (path, method)


def test_every_error_answer_has_the_one_error_shape(schema: dict[str, Any]) -> None:
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, method, operation in operations(schema):
        errors = {code: answer for code, answer in operation["responses"].items()
                  if int(code) >= 400}
        assert {"401", "403"} <= set(errors), (path, method)
        for code, answer in errors.items():
            assert answer["content"]["application/json"]["schema"] == ERROR_REF, (path, code)
            assert answer["description"], (path, code)


def test_operations_with_input_document_its_errors(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        if method in ("post", "put", "patch", "delete"):
            assert {"400", "413"} <= codes, (path, method)
        if "{" in path:
            assert "404" in codes, (path, method)


@pytest.mark.parametrize(("method", "path", "declared", "expected"), [
    ("GET", False, frozenset(), [400, 401, 403, 429, 503]),
    ("GET", True, frozenset(), [400, 401, 403, 404, 429, 503]),
    ("POST", False, frozenset({409}), [400, 401, 403, 409, 413, 415, 429, 503]),
    ("DELETE", True, frozenset(), [400, 401, 403, 404, 413, 415, 429, 503]),
])
def test_error_statuses_follow_the_operation(method: str, path: bool, declared: frozenset[int],
                                             expected: list[int]) -> None:
    assert error_statuses(method=method, has_path_parameters=path,
                          declared=declared) == expected


def test_the_schema_validates_without_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/v1/messages" in yaml.safe_load(out.read_text())["paths"]
