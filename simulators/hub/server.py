"""Running the app under uvicorn: in the foreground (CLI) or in a thread (tests, dev tools).

One server listens on two sockets: the Hub's port and the CDN's (another origin, as the
Hub's CDN is, so clients keep their token off it)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Self

import uvicorn

from .app import create_app
from .state import SimState
from .streaming import QuietInjectedDrops

_QUIET_DROPS = QuietInjectedDrops()


def _config(state: SimState, log_level: str, access_log: bool) -> uvicorn.Config:
    # Adding the same filter object twice is a no-op, so many servers in one process are fine.
    logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)
    # h11 always comes with uvicorn, so behaviour does not depend on optional httptools.
    return uvicorn.Config(create_app(state), http="h11", log_level=log_level, access_log=access_log)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def bind(state: SimState, host: str, port: int, cdn_port: int = 0) -> list[socket.socket]:
    """Returns the Hub's socket and the CDN's (port 0: any free one), the CDN's port recorded
    in `state` for the links the Hub signs."""
    hub_sock = _listen(host, port)
    cdn_sock = _listen(host, cdn_port)
    state.cdn.port = cdn_sock.getsockname()[1]
    return [hub_sock, cdn_sock]


def serve(state: SimState, host: str, port: int, cdn_port: int = 0,
          log_level: str = "info") -> None:
    """Serves until interrupted."""
    sockets = bind(state, host, port, cdn_port)
    logging.getLogger("uvicorn.error").info(
        "hub simulator on http://%s:%d, its CDN on port %d", host, port, state.cdn.port)
    uvicorn.Server(_config(state, log_level, access_log=True)).run(sockets=sockets)


class HubServer:
    """The simulator on free loopback ports in a background thread; use as a context manager."""

    def __init__(
        self, state: SimState, host: str = "127.0.0.1", log_level: str = "warning"
    ) -> None:
        self._sockets = bind(state, host, 0)
        self.url = "http://{}:{}".format(*self._sockets[0].getsockname())
        self.cdn_url = "http://{}:{}".format(*self._sockets[1].getsockname())
        self._server = uvicorn.Server(_config(state, log_level, access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, daemon=True,
            name="hub-sim",
        )

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("hub simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
