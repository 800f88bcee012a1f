"""`mlx.launch`, with its output relay waiting instead of spinning.

mlx.launch relays each rank's output in a thread that waits with `select` on the rank's stdout,
stderr and stdin; a pipe is always writable, so the wait returns at once and every thread
spins a core. On a big Mac that goes unnoticed; on a two-core machine the ranks lose their CPU
to it and the small-message latency reads milliseconds instead of tens of microseconds. The
panel never types into a rank, so here the relay waits on output only. Everything else is
mlx.launch's own code, arguments and behaviour (`python -m cluster_app.linkbench.launch --help`).
"""

from __future__ import annotations

import select as _select
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


def main() -> None:
    # Only mlx.launch's own module is touched; its name is checked so a newer mlx that
    # reorganised it still runs, merely unpatched.
    if hasattr(launch, "select"):
        launch.select = output_only_select
    launch.main()


if __name__ == "__main__":
    main()
