"""The web process's uvicorn settings."""

from __future__ import annotations

from arthur_panel.web import WS_MAX_MESSAGE_BYTES, server_options


def test_websockets_have_back_pressure_and_no_compression():
    options = server_options(host="127.0.0.1", port=8000, trusted_proxies=[])
    assert options["ws"] == "websockets-sansio"  # its send waits while the socket is full
    assert options["ws_per_message_deflate"] is False
    assert options["ws_max_size"] == WS_MAX_MESSAGE_BYTES
    assert (options["host"], options["port"]) == ("127.0.0.1", 8000)


def test_forwarded_headers_are_ignored_unless_proxies_are_named():
    options = server_options(host="127.0.0.1", port=8000, trusted_proxies=[])
    assert options["proxy_headers"] is False
    options = server_options(host="0.0.0.0", port=8000, trusted_proxies=["10.0.0.2"])
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == ["10.0.0.2"]
