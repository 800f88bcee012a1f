"""Errors as the Hub sends them: `X-Error-Code` and `X-Error-Message` headers plus a JSON body.

huggingface_hub's `hf_raise_for_status` picks its exception from `X-Error-Code`
(RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo); HEAD responses carry no body, so
the headers must say it all.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class HubError(Exception):
    def __init__(
        self, status: int, code: str | None, message: str, commit: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        # EntryNotFound carries the commit so clients can cache the file's absence.
        self.commit = commit


def repo_not_found(authenticated: bool) -> HubError:
    # Like the Hub: 401 to anonymous callers (it might be private), 404 to known users.
    return HubError(401 if not authenticated else 404, "RepoNotFound", "Repository not found")


def revision_not_found(revision: str) -> HubError:
    return HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")


def entry_not_found(commit: str) -> HubError:
    return HubError(404, "EntryNotFound", "Entry not found", commit=commit)


def gated_repo(repo_id: str, token_given: bool) -> HubError:
    if token_given:
        return HubError(
            403,
            "GatedRepo",
            f"Access to model {repo_id} is restricted and you are not in the authorized list. "
            f"Visit https://huggingface.co/{repo_id} to ask for access.",
        )
    return HubError(
        401,
        "GatedRepo",
        f"Access to model {repo_id} is restricted. You must have access to it and be "
        "authenticated to access it. Please log in.",
    )


class ControlError(Exception):
    """A bad request to a /_sim control route."""

    def __init__(self, message: str, code: str = "invalid", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


async def hub_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    headers = {"X-Error-Message": exc.message}
    if exc.code:
        headers["X-Error-Code"] = exc.code
    if exc.commit:
        headers["X-Repo-Commit"] = exc.commit
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def control_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    body = {"error": {"message": exc.message, "code": exc.code}}
    return JSONResponse(body, status_code=exc.status)
