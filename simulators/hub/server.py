"""Running the app under uvicorn: in the foreground (CLI) or in a thread (tests, dev tools)."""

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


def serve(state: SimState, host: str, port: int, log_level: str = "info") -> None:
    """Serves until interrupted."""
    config = _config(state, log_level, access_log=True)
    config.host, config.port = host, port
    uvicorn.Server(config).run()


class HubServer:
    """The simulator on a free loopback port in a background thread; use as a context manager."""

    def __init__(
        self, state: SimState, host: str = "127.0.0.1", log_level: str = "warning"
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.url = "http://{}:{}".format(*self._sock.getsockname())
        self._server = uvicorn.Server(_config(state, log_level, access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="hub-sim"
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
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
