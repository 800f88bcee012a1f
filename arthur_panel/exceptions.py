"""Refusals a user can act on, raised by services and pure cores alike (no Django here, so a
pure core can raise them); `arthur_panel.errors` turns them into the API's JSON errors."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can act on; views turn it into a 4xx with this message."""

    status_code = 400
    code = "invalid"
    retry_after: int | None = None  # seconds, sent as Retry-After (a 429 or a 503)

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
