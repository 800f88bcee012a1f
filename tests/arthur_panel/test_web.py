"""The web process's uvicorn settings, and how many processes it runs."""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from arthur_panel import web
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


def test_processes_are_uvicorns_workers():
    options = server_options(host="127.0.0.1", port=8000, trusted_proxies=[], processes=3)
    assert options["workers"] == 3
    assert server_options(host="127.0.0.1", port=8000, trusted_proxies=[])["workers"] == 1


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (8, 8), (32, 8)])
def test_one_process_per_core_by_default_up_to_a_cap(monkeypatch, cores, expected):
    monkeypatch.setattr(web, "cores", lambda: cores)
    assert web.default_processes() == expected
    assert expected <= web.MAX_DEFAULT_PROCESSES


def test_the_cores_are_those_this_process_may_use():
    assert 1 <= web.cores() <= (os.cpu_count() or 1)


def started_with(monkeypatch, **env: str) -> dict:
    """uvicorn.run's arguments when main() runs with `env`."""
    calls = []
    monkeypatch.setattr(web.uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    web.main()
    (options,) = calls
    return options


def test_web_concurrency_sets_the_processes(monkeypatch):
    assert started_with(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3
    assert started_with(monkeypatch)["workers"] == web.default_processes()


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_web_concurrency_stops_the_start(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match="WEB_CONCURRENCY"):
        started_with(monkeypatch, WEB_CONCURRENCY=value)
