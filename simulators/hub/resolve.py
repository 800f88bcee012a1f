"""`HEAD|GET /{org}/{name}/resolve/{revision}/{path}`: file metadata and downloads.

Files are served directly (no CDN redirect) with the headers huggingface_hub reads:
X-Repo-Commit, ETag, X-Linked-Etag and X-Linked-Size for LFS files, Content-Length and
Accept-Ranges. No X-Xet-* header or xet-auth link is ever sent, so huggingface_hub never
tries the Xet protocol and downloads over plain HTTP.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .errors import HubError, entry_not_found, revision_not_found
from .faults import BODY_KINDS
from .repos import RepoFile, RepoStore
from .state import find_repo, path_segments, sim_state
from .streaming import FileBody, RangeNotSatisfiable, parse_range


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".md", ".jinja", ".gitattributes", ".txt")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _file_headers(store: RepoStore, commit: str, file: RepoFile) -> dict[str, str]:
    name = file.path.rsplit("/", 1)[-1]
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": _content_type(file.path),
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
        "ETag": f'"{store.etag(file)}"',
        "X-Repo-Commit": commit,
    }
    if file.lfs:
        headers["X-Linked-Etag"] = f'"{store.sha256(file)}"'
        headers["X-Linked-Size"] = str(file.size)
    return headers


async def resolve_file(request: Request) -> Response | FileBody:
    segments = path_segments(request)
    if len(segments) < 5 or segments[2] != "resolve":
        raise HubError(404, None, "Not Found")
    repo_id, revision, path = "/".join(segments[:2]), segments[3], "/".join(segments[4:])
    state = sim_state(request)
    method = request.method
    state.counters.request(f"resolve_{method.lower()}")
    repo = find_repo(request, repo_id, download=True)
    commit = state.store.commit_for(repo, revision)
    if commit is None:
        raise revision_not_found(revision)
    file = repo.files.get(path)
    if file is None:
        raise entry_not_found(commit)

    injected = state.faults.take(("error",), "files", repo_id, path, method)
    if injected:
        raise HubError(injected[0].status, None, f"Simulated server error (fault {injected[0].id})")
    stats = state.counters.file(repo_id, path)
    headers = _file_headers(state.store, commit, file)
    try:
        byte_range = parse_range(request.headers.get("range"), file.size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{file.size}"
        return Response(status_code=416, headers=headers)
    start, end = byte_range or (0, file.size)
    status = 206 if byte_range else 200
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    headers["Content-Length"] = str(end - start)
    if method == "HEAD":
        stats.head += 1
        faults = []
    else:
        stats.get += 1
        stats.ranged_get += 1 if byte_range else 0
        faults = state.faults.take(BODY_KINDS, "files", repo_id, path, method)
    return FileBody(
        status=status,
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
