"""`mlx.launch`, with its output relay waiting instead of spinning.

mlx.launch relays each rank's output in a thread that waits with `select` on the rank's stdout,
stderr and stdin; a pipe is always writable, so the wait returns at once and every thread
spins a core. On a big Mac that goes unnoticed; on a two-core machine the ranks lose their CPU
to it and the small-message latency reads milliseconds instead of tens of microseconds. The
panel never types into a rank, so here the relay waits on output only.

And the launch ends with the worker that started it: a worker killed mid-benchmark would
otherwise leave mlx.launch and its ranks running on, holding the link and the ports while the
job's re-run measures. Everything else is mlx.launch's own code, arguments and behaviour
(`python -m cluster_app.linkbench.launch --help`).
"""

from __future__ import annotations

import os
import select as _select
import signal
import threading
import time
from collections.abc import Iterable
from typing import TypeVar

from mlx._distributed_utils import launch

_R = TypeVar("_R")
_W = TypeVar("_W")
_X = TypeVar("_X")


def output_only_select(readers: Iterable[_R], writers: Iterable[_W], errors: Iterable[_X],
                       timeout: float | None = None) -> tuple[list[_R], list[_W], list[_X]]:
    """`select` that ignores the writable side: nothing is ever written to a rank's stdin."""
    readable, _, failed = _select.select(readers, [], errors, timeout)
    return readable, [], failed


PARENT_POLL_SECONDS = 0.5


def end_with_parent(poll: float = PARENT_POLL_SECONDS) -> None:
    """Watch the parent, in a thread: once it is gone (this process is handed to another),
    SIGKILL this process group: the launch and the ranks it started. Only when the launch leads
    a session of its own, as the worker starts it; run by hand, its group is the shell's job."""
    if os.getsid(0) != os.getpid():
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def main() -> None:
    end_with_parent()
    # Only mlx.launch's own module is touched; its name is checked so a newer mlx that
    # reorganised it still runs, merely unpatched.
    if hasattr(launch, "select"):
        launch.select = output_only_select
    launch.main()


if __name__ == "__main__":
    main()
