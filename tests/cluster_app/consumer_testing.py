"""Helpers for in-process websocket tests: the real `application`, a socket by token."""

from __future__ import annotations

from typing import Any

from channels.testing import WebsocketCommunicator

from arthur_panel.asgi import application


def socket(path: str, token: str | None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return WebsocketCommunicator(application, path, headers=headers)


async def snapshot_of(path: str, token: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """An open socket and the first frame it sent (its snapshot)."""
    communicator = socket(path, token)
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    return communicator, await communicator.receive_json_from(timeout=5)
