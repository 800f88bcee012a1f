"""The CDN the Hub sends LFS downloads to: signed URLs that expire, as cdn-lfs.hf.co's do.

`GET /{org}/{name}/resolve/{rev}/{file}` of an LFS file answers 302 with a `Location` on
another origin (its own port), shaped like the Hub's CloudFront links::

    /repos/ab/cd/<sha256 of the repo id>/<sha256 of the file>
        ?response-content-disposition=...&Expires=<epoch s>&Signature=...&Key-Pair-Id=...

The CDN checks only the signature and `Expires` (no token: the Hub checked access before
signing) and refuses an expired or forged link with 403 AccessDenied, as CloudFront does. A
request that also carries an `Authorization` header gets 400, as S3 answers a presigned link
sent with a token: a client must keep its Hub token to the Hub.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

# The Hub's signed links last hours (Xet bridge links one hour, cdn-lfs ones about three days).
DEFAULT_TTL = 3600.0
TWO_AUTHS_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the "
    b"Signature query string parameter or the Authorization header should be specified"
    b"</Message></Error>"
)
DENIED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access denied</Message></Error>"
)


@dataclass(frozen=True)
class CdnObject:
    """The repo file an object path stands for."""

    repo_id: str
    path: str


class CdnDenied(Exception):
    """A link with a bad signature, or past its `Expires`."""


class Cdn:
    """Signs links for the Hub route and checks them on the CDN route."""

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.port: int | None = None  # set once the server has bound the CDN's socket
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._objects: dict[str, CdnObject] = {}

    @property
    def key_pair_id(self) -> str:
        return "K" + hashlib.sha256(self._key).hexdigest()[:13].upper()

    def location(self, host: str, repo_id: str, path: str, sha256: str) -> str:
        """Returns a signed link to the file, on `host` (the name the client used for the
        Hub) at the CDN's port."""
        if self.port is None:
            raise RuntimeError("the CDN has no port yet: serve the app with HubServer or serve()")
        repo_hash = hashlib.sha256(repo_id.encode()).hexdigest()
        object_path = f"/repos/{repo_hash[:2]}/{repo_hash[2:4]}/{repo_hash}/{sha256}"
        self._objects[object_path] = CdnObject(repo_id, path)
        expires = int(self._clock() + self.ttl)
        name = path.rsplit("/", 1)[-1]
        query = urlencode({
            "response-content-disposition":
                f"attachment; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
            "Expires": expires,
            "Signature": self._signature(object_path, expires),
            "Key-Pair-Id": self.key_pair_id,
        })
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"http://{host}:{self.port}{object_path}?{query}"

    def check(self, object_path: str, params: Mapping[str, str]) -> CdnObject | None:
        """Returns the object a valid link names (None for a path never signed), or raises
        CdnDenied."""
        expires = params.get("Expires", "")
        signature = params.get("Signature", "")
        if not expires.isdigit() or not hmac.compare_digest(
            signature, self._signature(object_path, int(expires))
        ):
            raise CdnDenied("bad signature")
        if self._clock() >= int(expires):
            raise CdnDenied("expired")
        return self._objects.get(object_path)

    def expire_all(self) -> None:
        """Refuses every link signed so far, as if each had reached its `Expires`."""
        self._key = secrets.token_bytes(32)

    def as_json(self) -> dict[str, object]:
        return {"port": self.port, "ttl_seconds": self.ttl}

    def _signature(self, object_path: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{object_path}\n{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
