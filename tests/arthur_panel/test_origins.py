"""Which pages may open the panel's websockets: the comparison itself, without a server."""

from __future__ import annotations

import pytest

from arthur_panel.origins import origin_allowed, parse_origin, request_origin

ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def allowed(origin: str | None, host: str | None = "127.0.0.1:8000", *, scheme: str = "ws",
            trusted: list[str] | None = None, hosts: list[str] = ALLOWED_HOSTS) -> bool:
    return origin_allowed(origin, scheme=scheme, host=host, allowed_hosts=hosts,
                          trusted_origins=trusted or [])


def test_the_panels_own_origin_is_allowed():
    assert allowed("http://127.0.0.1:8000")
    assert allowed("http://localhost:8000", "localhost:8000")
    assert allowed("http://[::1]:8000", "[::1]:8000")
    assert allowed("http://localhost", "localhost")
    assert allowed("http://localhost:80", "localhost")  # the default port, written out


def test_a_socket_without_origin_is_a_script_and_goes_on():
    assert allowed(None)
    assert allowed(None, None)


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:9999",  # another port on the same machine
    "http://127.0.0.1",  # port 80, not 8000
    "https://127.0.0.1:8000",  # another scheme: the socket request is ws
    "ftp://127.0.0.1:8000",
    "ws://127.0.0.1:8000",
    "http://evil.example@127.0.0.1:8000",  # user info
    "http://user:pw@127.0.0.1:8000",
    "http://127.0.0.1:8000/",  # a path, even an empty one
    "http://127.0.0.1:8000/page",
    "http://127.0.0.1:8000?x",
    "http://127.0.0.1:8000#x",
    "http://127.0.0.1:8000?",
    "http://127.0.0.1:",
    "http://127.0.0.1:80000",
    "http://127.0.0.1:port",
    "null",
    "",
    "127.0.0.1:8000",
    "http://localhost:8000",  # another host than the request's
    "http://evil.example",
    " http://127.0.0.1:8000",
    "http://127.0.0.1:8000\t",
])
def test_any_other_origin_is_refused(origin):
    assert not allowed(origin)


def test_wss_stands_for_https():
    assert allowed("https://localhost:8443", "localhost:8443", scheme="wss")
    assert not allowed("http://localhost:8443", "localhost:8443", scheme="wss")
    assert allowed("https://localhost", "localhost", scheme="wss")


def test_the_host_header_must_itself_be_allowed():
    assert not allowed("http://evil.example:8000", "evil.example:8000")
    assert allowed("http://panel.example", "panel.example", hosts=[".example"])
    assert allowed("http://x.panel.example", "x.panel.example", hosts=[".panel.example"])
    assert not allowed("http://127.0.0.1:8000", "127.0.0.1:8000/x")
    assert not allowed("http://evil.example@127.0.0.1:8000", "evil.example@127.0.0.1:8000")
    assert not allowed("http://127.0.0.1:8000", None)


def test_trusted_origins_are_allowed_exactly():
    trusted = ["https://panel.example.com"]
    # Behind a proxy that ends TLS: the request is ws to the panel's own address.
    assert allowed("https://panel.example.com", "127.0.0.1:8000", trusted=trusted)
    assert allowed("https://panel.example.com:443", "127.0.0.1:8000", trusted=trusted)
    assert not allowed("http://panel.example.com", "127.0.0.1:8000", trusted=trusted)
    assert not allowed("https://panel.example.com:8443", "127.0.0.1:8000", trusted=trusted)
    assert not allowed("https://evil.panel.example.com", "127.0.0.1:8000", trusted=trusted)


def test_wildcard_trusted_origins_cover_subdomains_as_for_csrf():
    trusted = ["https://*.example.com"]
    assert allowed("https://panel.example.com", "127.0.0.1:8000", trusted=trusted)
    assert allowed("https://a.b.example.com", "127.0.0.1:8000", trusted=trusted)
    assert not allowed("https://example.com.evil", "127.0.0.1:8000", trusted=trusted)
    assert not allowed("http://panel.example.com", "127.0.0.1:8000", trusted=trusted)


def test_parse_origin_reads_scheme_host_and_port():
    assert parse_origin("http://Panel.Example:81") == ("http", "panel.example", 81)
    assert parse_origin("https://[::1]") == ("https", "::1", 443)
    assert parse_origin("http://127.0.0.1:8000/") is None


def test_request_origin_is_http_for_ws_and_https_for_wss():
    assert request_origin("ws", "127.0.0.1:8000", ALLOWED_HOSTS) == ("http", "127.0.0.1", 8000)
    assert request_origin("wss", "localhost", ALLOWED_HOSTS) == ("https", "localhost", 443)
    assert request_origin("http", "localhost", ALLOWED_HOSTS) is None
    assert request_origin("ws", "elsewhere", ALLOWED_HOSTS) is None
