"""`/api/models`: search, and per repo model info, tree listing and paths-info, as
huggingface_hub calls them."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import listing
from .errors import HubError, entry_not_found, revision_not_found
from .repos import Repo
from .state import SimState, find_repo, path_segments, sim_state

SEARCH_LIMIT = 1000  # the Hub's page when no limit is given


async def search_models(request: Request) -> JSONResponse:
    """`GET /api/models?search=&author=&limit=`: repos whose id holds the text, by author."""
    state = sim_state(request)
    state.counters.request("search")
    params = request.query_params
    text, author = params.get("search", "").lower(), params.get("author")
    limit_text = params.get("limit", str(SEARCH_LIMIT))
    if not limit_text.isdigit():
        raise HubError(400, None, "Invalid limit")
    found = [
        listing.search_entry(repo) for repo in state.store.repos.values()
        if text in repo.repo_id.lower()
        and (author is None or repo.repo_id.split("/")[0] == author)
    ]
    return JSONResponse(found[: int(limit_text)])


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


async def models_api(request: Request) -> JSONResponse:
    # segments: api, models, org, name, [revision|tree|paths-info, rev, path...]
    segments = path_segments(request)[2:]
    if len(segments) < 2:
        raise HubError(404, None, "Not Found")
    repo_id, rest = "/".join(segments[:2]), segments[2:]
    if not rest or (rest[0] == "revision" and len(rest) == 2):
        route, method = "model_info", "GET"
    elif rest[0] == "tree" and len(rest) >= 2:
        route, method = "tree", "GET"
    elif rest[0] == "paths-info" and len(rest) == 2:
        route, method = "paths_info", "POST"
    else:
        raise HubError(404, None, "Not Found")
    if request.method != method:
        raise HubError(405, None, "Method Not Allowed")
    state = sim_state(request)
    state.counters.request(route)
    repo = find_repo(request, repo_id, download=False)
    injected = state.faults.take(("error",), "api", repo_id, "", method)
    if injected:
        raise HubError(injected[0].status, None, f"Simulated server error (fault {injected[0].id})")

    revision = rest[1] if rest else "main"
    if route == "model_info":
        return _model_info(request, state, repo, revision)
    if route == "tree":
        return _tree(request, state, repo, revision, "/".join(rest[2:]))
    return await _paths_info(request, state, repo, revision)


def _commit(state: SimState, repo: Repo, revision: str) -> str:
    commit = state.store.commit_for(repo, revision)
    if commit is None:
        raise revision_not_found(revision)
    return commit


def _model_info(request: Request, state: SimState, repo: Repo, revision: str) -> JSONResponse:
    _commit(state, repo, revision)
    info = listing.model_info(state.store, repo, blobs=_flag(request.query_params.get("blobs")))
    expand = request.query_params.getlist("expand")
    return JSONResponse(listing.expanded_model_info(info, expand) if expand else info)


def _tree(
    request: Request, state: SimState, repo: Repo, revision: str, folder: str
) -> JSONResponse:
    commit = _commit(state, repo, revision)
    if folder and folder not in repo.directories():
        raise entry_not_found(commit)
    params = request.query_params
    recursive, expand = _flag(params.get("recursive")), _flag(params.get("expand"))
    paths = listing.tree_paths(repo, folder, recursive=recursive)
    page = (
        min(state.tree_page_size, listing.TREE_PAGE_SIZE_EXPANDED)
        if expand
        else state.tree_page_size
    )
    cursor = params.get("cursor", "0")
    if not cursor.isdigit():
        raise HubError(400, None, "Invalid cursor")
    start = int(cursor)
    body = [
        listing.path_entry(state.store, repo, p, expand=expand) for p in paths[start : start + page]
    ]
    headers = {}
    if start + page < len(paths):
        # Same Link header shape as the Hub; huggingface_hub follows rel="next" as given.
        flags = {"recursive": str(recursive).lower(), "expand": str(expand).lower()}
        query = urlencode({**flags, "cursor": start + page})
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        base = f"{request.url.scheme}://{request.url.netloc}{raw_path}"
        headers["Link"] = f'<{base}?{query}>; rel="next"'
    return JSONResponse(body, headers=headers)


async def _paths_info(request: Request, state: SimState, repo: Repo, revision: str) -> JSONResponse:
    _commit(state, repo, revision)
    raw = await request.body()
    # huggingface_hub posts a form (paths=a&paths=b&expand=false); the Hub also takes JSON.
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise HubError(400, None, "Malformed JSON body") from exc
        if not isinstance(data, dict):
            raise HubError(400, None, "Body must be a JSON object")
        paths, expand = data.get("paths", []), bool(data.get("expand", False))
    else:
        form = parse_qs(raw.decode("utf-8", "replace"))
        paths, expand = form.get("paths", []), _flag((form.get("expand") or [""])[0])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise HubError(400, None, "paths must be a list of strings")
    known = set(repo.files) | set(repo.directories())
    # Unknown paths are skipped without an error, as on the Hub.
    body = [listing.path_entry(state.store, repo, p, expand=expand) for p in paths if p in known]
    return JSONResponse(body)
