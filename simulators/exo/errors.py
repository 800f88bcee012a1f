"""exo's error bodies, FastAPI-style 422 validation details, and request body checks."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error exo answers as ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Unhandled(Exception):
    """An exception exo does not catch: FastAPI answers a plain-text 500."""


class ResponseAborted(Exception):
    """exo raised inside an answer it had started to send: the connection closes mid-body."""


class ValidationFailed(Exception):
    """A body or query that FastAPI would reject with 422 ``{"detail": [...]}``."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(details)
        self.details = details


def error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": HTTPStatus(status).phrase,
            "param": None,
            "code": status,
        }
    }


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ValidationFailed([{
            "type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error",
            "input": {}, "ctx": {"error": str(error).split(":")[0]},
        }]) from error
    if not isinstance(body, dict):
        raise ValidationFailed([{
            "type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": body,
        }])
    return body


# expected kind -> (pydantic error type, message)
_KINDS: dict[str, tuple[str, str]] = {
    "str": ("string_type", "Input should be a valid string"),
    "int": ("int_type", "Input should be a valid integer"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "list": ("list_type", "Input should be a valid list"),
    "dict": ("dict_type", "Input should be a valid dictionary"),
    "number": ("float_type", "Input should be a valid number"),
}


def _matches(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "bool": bool, "list": list, "dict": dict}[kind])


def check(
    data: dict[str, Any],
    required: dict[str, str],
    optional: dict[str, str] | None = None,
    choices: dict[str, tuple[str, ...]] | None = None,
    where: str = "body",
) -> None:
    """Raise ValidationFailed listing every missing or mistyped field, as FastAPI does."""
    details: list[dict[str, Any]] = []
    for name, kind in {**required, **(optional or {})}.items():
        if name not in data or data[name] is None:
            if name in required:
                details.append({"type": "missing", "loc": [where, name],
                                "msg": "Field required", "input": data})
            continue
        value = data[name]
        allowed = (choices or {}).get(name)
        if allowed is not None and value not in allowed:
            options = " or ".join(f"'{a}'" for a in allowed)
            details.append({"type": "enum", "loc": [where, name],
                            "msg": f"Input should be {options}", "input": value,
                            "ctx": {"expected": options}})
        elif not _matches(value, kind):
            error_type, message = _KINDS[kind]
            details.append({"type": error_type, "loc": [where, name], "msg": message,
                            "input": value})
    if details:
        raise ValidationFailed(details)
