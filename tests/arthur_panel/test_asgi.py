"""The socket stack in-process: the origin check reads the request as Django does."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from arthur_panel.asgi import application
from tests.threads import run_async

pytestmark = pytest.mark.django_db(transaction=True)
PANEL = "panel.example"


@pytest.fixture
def behind_a_tls_proxy(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.ALLOWED_HOSTS = [PANEL]


def opens(token: str, *headers: tuple[bytes, bytes]) -> bool:
    """Whether /ws/jobs/ opens for a page of https://panel.example with `headers`."""
    async def attempt() -> bool:
        socket = WebsocketCommunicator(application, "/ws/jobs/", headers=[
            (b"host", PANEL.encode()), (b"origin", f"https://{PANEL}".encode()),
            (b"authorization", f"Bearer {token}".encode()), *headers])
        connected, _ = await socket.connect(timeout=5)
        await socket.disconnect()
        return connected

    return run_async(attempt())


def test_a_page_on_https_behind_a_trusted_proxy_may_open_a_socket(behind_a_tls_proxy, settings,
                                                                  alice_token):
    # TRUST_X_FORWARDED_PROTO: the proxy ended TLS and says so.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert opens(alice_token, (b"x-forwarded-proto", b"https"))
    assert opens(alice_token, (b"x-forwarded-proto", b"https, http"))
    assert not opens(alice_token, (b"x-forwarded-proto", b"http"))
    assert not opens(alice_token)


def test_a_forwarded_proto_is_not_believed_unless_trusted(behind_a_tls_proxy, settings,
                                                          alice_token):
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not opens(alice_token, (b"x-forwarded-proto", b"https"))
