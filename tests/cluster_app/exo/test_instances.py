"""A load's reads of exo's state while exo restarts: the absence is waited out, for a while."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cluster_app.exo import instances
from cluster_app.exo.client import ExoClient, ExoUnavailable


class Notes:
    """A load's progress, as lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def tick(self) -> None:
        pass

    def progress(self, done: int, total: int | None = None, **fields: Any) -> None:
        pass


def exo_down_for(requests: int) -> ExoClient:
    """An exo that refuses the first `requests` connections, then answers."""
    refused = [0]

    def answer(request: httpx.Request) -> httpx.Response:
        if refused[0] < requests:
            refused[0] += 1
            raise httpx.ConnectError("Connection refused", request=request)
        return httpx.Response(200, json={"instances": {}, "nodeIdentities": {}})

    return ExoClient("http://exo.test", retries=0, transport=httpx.MockTransport(answer))


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "FOLLOW_INTERVAL", 0.01)


def test_exo_away_for_a_moment_is_waited_out_and_said():
    notes = Notes()
    with exo_down_for(3) as client:
        view = instances.state_through_restart(client, notes)
    assert view.instances == []
    assert notes.lines == ["exo at http://exo.test is not answering (Connection refused). "
                           "Waiting up to 60 s for it to come back (restarting?)"]


def test_exo_away_for_longer_fails_the_read(monkeypatch):
    monkeypatch.setattr(instances, "EXO_RETURN_SECONDS", 0.1)
    with (exo_down_for(10**6) as client,
          pytest.raises(ExoUnavailable, match="^exo stopped answering while the model was "
                                              "loading and was not back within 0.1 s: ")):
        instances.state_through_restart(client, Notes())
