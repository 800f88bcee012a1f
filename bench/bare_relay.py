"""The floor for `bench/proxy.py --floor`: an ASGI application that passes a chat request on to
exo (SIM_URL) and exo's answer back, and does nothing else: no key, no limits, no usage
record, no Django. Served as the panel is (uvicorn, the same number of processes), over the
panel's own connection to exo (models_app/proxy/transport.py), with the same relay pacing.

What it adds to a first token against exo straight is what any Python relay on this machine
adds (the server, the hop, the cores it shares); what the panel adds beyond it is its own work.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from models_app.proxy.transport import RELAY_INTERVAL, ExoTransport

EXO = httpx.URL(os.environ.get("SIM_URL", "http://127.0.0.1:52415"))
TRANSPORT = ExoTransport(httpx.create_ssl_context())
Message = dict[str, Any]


async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = httpx.Request("POST", EXO.join(scope["path"]), content=body,
                            headers={"Content-Type": "application/json"})
    upstream = await TRANSPORT.handle_async_request(request)
    await send({"type": "http.response.start", "status": upstream.status_code, "headers": [
        (b"content-type", upstream.headers.get("content-type", "").encode())]})
    loop = asyncio.get_running_loop()
    try:
        asked = loop.time()
        async for chunk in upstream.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if loop.time() - asked < RELAY_INTERVAL:
                await asyncio.sleep(RELAY_INTERVAL)
            asked = loop.time()
    finally:
        await upstream.aclose()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
