"""`HEAD|GET /{org}/{name}/resolve/{revision}/{path}` on the Hub, and the CDN's object route.

As on the Hub, small (git) files are served directly and LFS files answer 302 to a signed CDN
link on another origin (see `cdn.py`), with the headers huggingface_hub reads from that
redirect: X-Repo-Commit, ETag, X-Linked-Etag (sha256) and X-Linked-Size. huggingface_hub
stops at a redirect that leaves the Hub's origin, reads the file's metadata from it and
fetches the link without the token. No X-Xet-* header or xet-auth link is ever sent, so
huggingface_hub never tries the Xet protocol and downloads over plain HTTP.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .cdn import DENIED_BODY, TWO_AUTHS_BODY, CdnDenied
from .errors import HubError, entry_not_found, revision_not_found
from .faults import BODY_KINDS
from .repos import RepoFile, RepoStore
from .state import SimState, find_repo, path_segments, sim_state
from .streaming import FileBody, RangeNotSatisfiable, parse_range


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".md", ".jinja", ".gitattributes", ".txt")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _disposition(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";"


def _hub_headers(store: RepoStore, commit: str, file: RepoFile) -> dict[str, str]:
    headers = {"ETag": f'"{store.etag(file)}"', "X-Repo-Commit": commit}
    if file.lfs:
        headers["X-Linked-Etag"] = f'"{store.sha256(file)}"'
        headers["X-Linked-Size"] = str(file.size)
    return headers


def _raise_injected_error(state: SimState, repo_id: str, path: str, method: str) -> None:
    # Error faults hit the file's first matching request, on the Hub or on the CDN.
    injected = state.faults.take(("error",), "files", repo_id, path, method)
    if injected:
        raise HubError(injected[0].status, None, f"Simulated server error (fault {injected[0].id})")


async def resolve_file(request: Request) -> Response | FileBody:
    segments = path_segments(request)
    if len(segments) < 5 or segments[2] != "resolve":
        raise HubError(404, None, "Not Found")
    repo_id, revision, path = "/".join(segments[:2]), segments[3], "/".join(segments[4:])
    state = sim_state(request)
    state.counters.request(f"resolve_{request.method.lower()}")
    repo = find_repo(request, repo_id, download=True)
    commit = state.store.commit_for(repo, revision)
    if commit is None:
        raise revision_not_found(revision)
    file = repo.files.get(path)
    if file is None:
        raise entry_not_found(commit)
    _raise_injected_error(state, repo_id, path, request.method)
    headers = _hub_headers(state.store, commit, file)
    if not file.lfs:
        headers["Content-Disposition"] = _disposition(path)
        return _file_body(request, state, repo_id, file, headers)
    state.counters.file(repo_id, path).redirects += 1
    host = request.url.hostname or "127.0.0.1"
    location = state.cdn.location(host, repo_id, path, state.store.sha256(file))
    body = b"" if request.method == "HEAD" else f"Found. Redirecting to {location}".encode()
    headers.update({"Location": location, "Content-Type": "text/plain; charset=utf-8"})
    return Response(body, status_code=302, headers=headers)


async def cdn_file(request: Request) -> Response | FileBody:
    """`HEAD|GET /repos/...?Expires=&Signature=...`: the bytes of a file the Hub linked to."""
    state = sim_state(request)
    state.counters.request(f"cdn_{request.method.lower()}")
    if "authorization" in request.headers:
        state.counters.request("cdn_token_refused")
        body = b"" if request.method == "HEAD" else TWO_AUTHS_BODY
        return Response(body, status_code=400, media_type="application/xml")
    try:
        found = state.cdn.check(request.url.path, request.query_params)
    except CdnDenied:
        state.counters.request("cdn_denied")
        body = b"" if request.method == "HEAD" else DENIED_BODY
        return Response(body, status_code=403, media_type="application/xml")
    repo = state.store.get(found.repo_id) if found else None
    file = repo.files.get(found.path) if repo and found else None
    if found is None or file is None:
        return Response(b"<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                        media_type="application/xml")
    _raise_injected_error(state, found.repo_id, found.path, request.method)
    disposition = request.query_params.get("response-content-disposition") or _disposition(
        found.path)
    headers = {"ETag": f'"{state.store.sha256(file)}"', "Content-Disposition": disposition}
    return _file_body(request, state, found.repo_id, file, headers)


def _file_body(
    request: Request, state: SimState, repo_id: str, file: RepoFile, headers: dict[str, str]
) -> Response | FileBody:
    """The file's bytes (a single Range gives 206 or 416), paced, with body faults applied."""
    method = request.method
    stats = state.counters.file(repo_id, file.path)
    headers = {"Accept-Ranges": "bytes", "Content-Type": _content_type(file.path), **headers}
    try:
        byte_range = parse_range(request.headers.get("range"), file.size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{file.size}"
        return Response(status_code=416, headers=headers)
    start, end = byte_range or (0, file.size)
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    headers["Content-Length"] = str(end - start)
    if method == "HEAD":
        stats.head += 1
        faults = []
    else:
        stats.get += 1
        stats.ranged_get += 1 if byte_range else 0
        faults = state.faults.take(BODY_KINDS, "files", repo_id, file.path, method)
    return FileBody(
        status=206 if byte_range else 200,
        headers=headers,
        source=file.source,
        start=start,
        end=end,
        send_body=method == "GET",
        pacer=state.bandwidth.pacer(),
        chunk_size=state.bandwidth.chunk_size(),
        faults=faults,
        stats=stats,
    )
