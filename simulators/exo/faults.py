"""API-wide faults: added latency and 500 answers on exo's routes (never on /_sim)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_body

CONTROL_PREFIX = "/_sim"


@dataclass
class Faults:
    latency: float = 0.0  # seconds added before every answer
    error_rate: float = 0.0  # share of requests answered 500, 1.0 for all

    def clear(self) -> None:
        self.latency = 0.0
        self.error_rate = 0.0


class FaultMiddleware:
    """Pure ASGI, so streaming answers pass through untouched when no fault applies."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults
        self.rng = random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        if self.faults.error_rate > 0 and self.rng.random() < self.faults.error_rate:
            body = error_body(500, "Internal server error (simulated fault)")
            await JSONResponse(body, status_code=500)(scope, receive, send)
            return
        await self.app(scope, receive, send)
