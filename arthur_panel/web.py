"""The web process: uvicorn serving the panel's pages, API and websockets.

`python -m arthur_panel.web` listens on HOST:PORT. uvicorn rather than Daphne: its websocket
`send` waits while the socket's write buffer is full, so a client that stops reading holds
back its own consumer (which then drops it) instead of growing the process without bound.

With WEB_CONCURRENCY above 1, uvicorn's parent process binds the socket and runs that many
server processes on it, each taking the connections it accepts first, and starts again one
that dies. Websockets work across them: every event goes through the Redis channel layer.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from typing import Any

import uvicorn

from arthur_panel.env import env_int, env_list, env_str

APPLICATION = "arthur_panel.asgi:application"
# Browsers send nothing on the panel's sockets: a larger frame is a broken or hostile client.
WS_MAX_MESSAGE_BYTES = 64 * 1024
# Ctrl-C waits this long for running requests (a chat answer streaming) before cutting them.
GRACEFUL_SHUTDOWN_SECONDS = 10
# Where it listens unless HOST and PORT say otherwise (docs/Caddyfile proxies to it).
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
# Server processes by default: one per core, no more than this: each holds about 120 MB and
# its own Redis connections, and a household's streams and pages keep a few busy at most.
MAX_DEFAULT_PROCESSES = 8


def cores() -> int:
    """The cores this process may run on (on Linux, its share: a container's, taskset's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_processes() -> int:
    return min(cores(), MAX_DEFAULT_PROCESSES)


def server_options(*, host: str, port: int, trusted_proxies: list[str],
                   processes: int = 1) -> dict[str, Any]:
    """uvicorn's settings. X-Forwarded-For and -Proto are read only from `trusted_proxies`:
    trusted from anyone, they would let a client choose the address it is throttled by."""
    return {
        "host": host,
        "port": port,
        "workers": processes,
        "ws": "websockets-sansio",
        "ws_max_size": WS_MAX_MESSAGE_BYTES,
        # Not compressed, as with Daphne: deflating every log batch once per socket costs the
        # CPU, and a client that does not read would take ten times the lines before its
        # socket's buffers fill and it is dropped.
        "ws_per_message_deflate": False,
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": trusted_proxies or None,
        "lifespan": "off",  # Django has no start-up or shutdown hooks to run
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }


def stop_with_parent() -> None:
    """In a server process uvicorn's parent started (WEB_CONCURRENCY above 1): once the parent
    is gone, stop as on SIGTERM (finishing the requests in hand). A parent killed outright
    (SIGKILL, the out-of-memory killer) would otherwise leave its server processes serving on,
    holding the port and the output pipe, so that `make run`'s supervisor could neither see the
    web server end nor start it again. Nothing to do in a process of its own (one process)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns once the parent has ended
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def main() -> None:
    uvicorn.run(APPLICATION, **server_options(
        host=env_str("HOST", DEFAULT_HOST), port=env_int("PORT", DEFAULT_PORT, minimum=1),
        trusted_proxies=env_list("FORWARDED_ALLOW_IPS", []),
        processes=env_int("WEB_CONCURRENCY", default_processes(), minimum=1)))


if __name__ == "__main__":
    main()
