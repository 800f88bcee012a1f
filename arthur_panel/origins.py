"""Which pages may open the panel's websockets.

A browser sends the Origin of the page that opens a socket, and its cookie with it: only the
panel's own origin (the scheme, host and port the socket request itself was made to) and the
trusted origins may use it. Scripts send no Origin; they still have to authenticate.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}
# The page scheme a socket request stands for: a page on http opens ws, one on https wss.
PAGE_SCHEMES = {"ws": "http", "wss": "https"}

Origin = tuple[str, str, int]  # scheme, host (lower case, IPv6 without brackets), port


def parse_origin(value: str) -> Origin | None:
    """The (scheme, host, port) of an origin as browsers write it (`http://host[:port]`), or
    None for anything else: `null`, another scheme, user info, a path, query or fragment."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if (parts.scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc
            or parts.netloc.endswith(":")):
        return None
    # Nothing may follow the host and port, not even an empty path, query or fragment.
    if f"{parts.scheme}://{parts.netloc}" != value:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def request_origin(scheme: str, host: str, allowed_hosts: list[str]) -> Origin | None:
    """The origin a page on the panel itself has when it opens this socket request: http for
    ws, https for wss, and the request's Host, which must be one of `allowed_hosts`."""
    domain, _ = split_domain_port(host)
    page_scheme = PAGE_SCHEMES.get(scheme)
    if not domain or page_scheme is None or not validate_host(domain, allowed_hosts):
        return None
    return parse_origin(f"{page_scheme}://{host.lower()}")


def trusted(origin: Origin, trusted_origins: list[str]) -> bool:
    """Whether `origin` is one of `trusted_origins`; `https://*.example.com` also matches
    its subdomains, as Django's CSRF_TRUSTED_ORIGINS does."""
    scheme, host, port = origin
    for entry in trusted_origins:
        wildcard = "://*." in entry
        parsed = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry)
        if parsed is None or parsed[0] != scheme or parsed[2] != port:
            continue
        if host == parsed[1] or (wildcard and is_same_domain(host, f".{parsed[1]}")):
            return True
    return False


def origin_allowed(origin: str | None, *, scheme: str, host: str | None,
                   allowed_hosts: list[str], trusted_origins: list[str]) -> bool:
    """Whether a socket request with this Origin header (None: there was none) may go on."""
    if origin is None:
        return True
    parsed = parse_origin(origin)
    if parsed is None:
        return False
    own = request_origin(scheme, host, allowed_hosts) if host else None
    return parsed == own or trusted(parsed, trusted_origins)
