"""Everything one running simulator holds, and the access rules that read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from starlette.requests import Request

from .bandwidth import Bandwidth
from .cdn import Cdn
from .errors import gated_repo, repo_not_found
from .faults import FaultBook
from .listing import TREE_PAGE_SIZE
from .repos import Repo, RepoStore
from .stats import Counters


@dataclass
class SimState:
    store: RepoStore
    tokens: frozenset[str] = frozenset()
    bandwidth: Bandwidth = field(default_factory=Bandwidth)
    cdn: Cdn = field(default_factory=Cdn)
    faults: FaultBook = field(default_factory=FaultBook)
    counters: Counters = field(default_factory=Counters)
    tree_page_size: int = TREE_PAGE_SIZE


def sim_state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def bearer_token(request: Request) -> str | None:
    """Returns the token of an `Authorization: Bearer ...` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def path_segments(request: Request) -> list[str]:
    """Returns the URL path split on "/" before percent-decoding, each segment then decoded.

    huggingface_hub sends revisions and tree paths with "/" encoded as %2F; splitting the
    raw path keeps "refs%2Fpr%2F1" one segment.
    """
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return [unquote(s) for s in raw.decode("latin-1").split("?", 1)[0].strip("/").split("/")]


def find_repo(request: Request, repo_id: str, *, download: bool) -> Repo:
    """Returns the repo, or raises the Hub's error for a missing repo or a gated download.

    Gated repos list their files to anyone, as on the Hub; only downloads need a valid token.
    An unknown token is treated as no token for public repos.
    """
    state = sim_state(request)
    token = bearer_token(request)
    valid = token is not None and token in state.tokens
    repo = state.store.get(repo_id)
    if repo is None:
        raise repo_not_found(authenticated=valid)
    if download and repo.spec.gated and not valid:
        raise gated_repo(repo_id, token_given=token is not None)
    return repo
