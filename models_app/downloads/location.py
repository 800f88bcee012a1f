"""Where a file's bytes come from: its resolve URL on the Hub, or the signed CDN link the Hub
redirects it to.

The Hub answers `HEAD /{repo}/resolve/{rev}/{file}` of an LFS file with a 302 to a link on
another host that expires (cdn-lfs.hf.co, the Xet bridge), and serves small files itself. A
file's link is asked for once and shared by every connection fetching its pieces; when the CDN
refuses it (403 or 410: expired) the next piece asks the Hub again. As huggingface_hub does, the
token goes only to the Hub's own origin, never to the CDN.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from models_app.downloads.failures import Retry, TransferError, check_size, refusal, retryable

MAX_REDIRECTS = 5
# Content-Length and ranges must count the file's own bytes, not a compressed form.
IDENTITY = {"Accept-Encoding": "identity"}


@dataclass(frozen=True)
class Source:
    url: str
    headers: Mapping[str, str]  # the token, only for the Hub's own origin
    signed: bool  # a link off the Hub: a refusal means it expired


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _declared_size(response: httpx.Response) -> int | None:
    # The Hub's redirect names the file's size in X-Linked-Size; a file served directly has
    # its own Content-Length.
    value = response.headers.get("x-linked-size") or (
        "" if response.is_redirect else response.headers.get("content-length", ""))
    return int(value) if value.isdigit() else None


class FileLocation:
    """One file's source, resolved on first use and again once its link has expired."""

    def __init__(self, path: str, url: str, size: int, *, client: httpx.Client,
                 auth: Mapping[str, str], timeout: httpx.Timeout) -> None:
        self.path, self.url, self.size = path, url, size
        self._client, self._auth, self._timeout = client, auth, timeout
        self._lock = threading.Lock()
        self._source: Source | None = None

    def source(self) -> Source:
        """Returns where to fetch the bytes; the first caller asks the Hub, the others wait
        for its answer. Raises Retry, TransferError or VerificationError."""
        with self._lock:
            if self._source is None:
                self._source = self._resolve()
            return self._source

    def expired(self, source: Source) -> None:
        """Forgets `source`, so the next caller asks the Hub for a fresh link (unless another
        connection has already done so)."""
        with self._lock:
            if self._source is source:
                self._source = None

    def _resolve(self) -> Source:
        home, url = _origin(self.url), self.url
        for _ in range(MAX_REDIRECTS):
            on_hub = _origin(url) == home
            headers = {**IDENTITY, **(self._auth if on_hub else {})}
            response = self._client.head(url, headers=headers, timeout=self._timeout,
                                         follow_redirects=False)
            status = response.status_code
            if retryable(status):
                raise Retry(f"the server answered HTTP {status}")
            if status >= 400:
                raise TransferError(refusal(self.path, status))
            check_size(self.path, self.size, _declared_size(response))
            if not response.is_redirect:
                return Source(url, self._auth, signed=False)  # served by the Hub itself
            url = urljoin(url, response.headers["location"])
            if _origin(url) != home:
                return Source(url, {}, signed=True)
        raise TransferError(f"{self.path}: more than {MAX_REDIRECTS} redirects from {self.url}")
