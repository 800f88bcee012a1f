from __future__ import annotations

from collections.abc import Iterator

import pytest

from arthur_panel.redis_client import redis_client
from cluster_app.logs import ring


def wipe_log_rings() -> None:
    client = redis_client()
    if keys := list(client.scan_iter(f"{ring.PREFIX}:*")):
        client.delete(*keys)


@pytest.fixture
def empty_log_rings() -> Iterator[None]:
    """No log lines, positions or follower heartbeats from another test, before or after."""
    wipe_log_rings()
    yield
    wipe_log_rings()
