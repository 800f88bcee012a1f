"""Work run on a thread of its own, away from the main thread's event loop.

Once the browser tests have run, Playwright's event loop runs in the main thread for the rest
of the session: there Django's test client cannot run an async view, `async_to_sync` (which
publishes events, from signals too) refuses to run, and no other event loop can start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def off_loop(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` on a thread of its own; its result, or its exception."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work, *args, **kwargs).result()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` in an event loop of its own, on a thread of its own."""
    return off_loop(asyncio.run, coroutine)
