"""The proxy's requests with an API key, served by Django without its middleware stack.

Through the stack, every request makes over a dozen hops between the event loop and a thread
(each `MiddlewareMixin` runs its hooks through `sync_to_async`): milliseconds of CPU per
request, most of what the proxy added to a first token, and 32 requests at once queue behind
each other's. A request with an API key needs none of what those hooks do (sessions, CSRF
cookies, login redirects, messages), so `/v1/chat/completions` and `/v1/messages` with a key
come here, and get what they do need of the stack, in the event loop: the SSL redirect, the
security headers every response carries (they only read the request and set headers) and the
audit of refusals. Browser sessions, and every other request, go through the whole stack.

Before that, a key's request is offered to the express lane (`express.py`), which serves it on
the event loop alone when the process already holds what it needs; this handler keeps, for that
lane, the security headers it gave a good answer of each path and host.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import resolve, reverse, set_urlconf
from django.utils.log import log_response

from arthur_panel.security import PanelCSPMiddleware
from cluster_app.access.tokens import bearer_secret
from cluster_app.audit.middleware import audit_middleware
from models_app.proxy import express

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
PROXY_URL_NAMES = {"v1-chat-completions": "chat", "v1-messages": "messages"}  # and their API


def has_api_key(scope: Scope) -> bool:
    """Whether the request names an API key as the proxy reads one (models_app/proxy/views.py
    `_caller`): `Authorization: Bearer <key>`, or Anthropic's `x-api-key`."""
    for name, value in scope["headers"]:
        if name == b"authorization" and bearer_secret(value.decode("latin-1")):
            return True
        if name == b"x-api-key" and value:
            return True
    return False


def _not_called(request: HttpRequest) -> HttpResponseBase:
    raise AssertionError("only the middleware's hooks are called")


class ProxyHandler(ASGIHandler):
    """Django's ASGI handler (the request body, the client leaving mid-answer, the response's
    streaming and closing), with the proxy's views called as below instead of the stack."""

    def load_middleware(self, is_async: bool = False) -> None:
        self.security = SecurityMiddleware(_not_called)
        # In the order the stack runs responses through them (settings.MIDDLEWARE's, upwards).
        self.header_setters: list[
            XFrameOptionsMiddleware | PanelCSPMiddleware | SecurityMiddleware] = [
            XFrameOptionsMiddleware(_not_called), PanelCSPMiddleware(_not_called), self.security]
        self.views = {path: (resolve(path), audit_middleware(resolve(path).func))
                      for path in map(reverse, PROXY_URL_NAMES)}
        self.apis = {reverse(name): api for name, api in PROXY_URL_NAMES.items()}
        self.security_headers = express.SecurityHeaders()
        # An exception becomes Django's error response (a coroutine function stays one).
        self.serve = cast(Callable[[HttpRequest], Awaitable[HttpResponseBase]],
                          convert_exception_to_response(self._serve))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        messages, raw = await express.read_body(receive)
        security = self.security_headers.get(scope)
        if raw is not None and security is not None and await express.serve(
                scope, raw, receive, send, api=self.apis[self._path(scope)], security=security,
                answer_error=functools.partial(self._answer, scope)):
            return
        # Without the ThreadSensitiveContext Django gives each request: it would start a thread
        # for the only sync calls made here, the request signals' (the views' own sync work runs
        # on a pool: views.pooled), so they run on asgiref's one thread for sync code instead.
        await self.handle(scope, express.replaying(messages, receive), send)

    @staticmethod
    def _path(scope: Scope) -> str:
        return str(scope["path"]).removeprefix(scope.get("root_path", ""))

    def takes(self, scope: Scope) -> bool:
        return self._path(scope) in self.views and has_api_key(scope)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        set_urlconf(settings.ROOT_URLCONF)
        # Streaming or not: Django's hooks take both, though its stubs name HttpResponse only.
        response: Any = await self.serve(request)
        return await self._finished(cast(ASGIRequest, request), response)

    async def _finished(self, request: ASGIRequest, response: Any) -> HttpResponseBase:
        """`response` as the stack leaves it: its security headers, logged if it is an error;
        the security headers of a good answer kept for the express lane."""
        before = dict(response.items())
        for middleware in self.header_setters:
            response = middleware.process_response(request, response)
        response._resource_closers.append(request.close)
        if response.status_code < 400:
            self.security_headers.keep(request.scope, before, dict(response.items()))
        else:
            await sync_to_async(log_response, thread_sensitive=False)(
                "%s: %s", response.reason_phrase, request.path, response=response,
                request=request)
        return cast(HttpResponseBase, response)

    async def _answer(self, scope: Scope, raw: bytes, response: HttpResponseBase,
                      send: Any) -> None:
        """An error the express lane met once the request was let in (exo down, or refusing),
        answered as the stack would answer it: its headers, the log and the audit."""
        request = self.request_class(scope, io.BytesIO(raw))
        request.user = AnonymousUser()
        request.resolver_match = self.views[request.path_info][0]

        async def given(_: HttpRequest) -> HttpResponseBase:
            return response

        answered = await self._finished(request, await audit_middleware(given)(request))
        await self.send_response(answered, send)

    async def _serve(self, request: HttpRequest) -> HttpResponseBase:
        request.get_host()  # a Host not in ALLOWED_HOSTS is a 400, as in the stack
        request.user = AnonymousUser()  # a key's request is nobody's session
        request.resolver_match, view = self.views[request.path_info]
        response: HttpResponseBase = self.security.process_request(request) or await view(request)
        return response


def with_api_key_proxy(django: ASGIApp) -> ASGIApp:
    """`django` (Django's ASGI application), but for the proxy's API-key requests."""
    proxy = ProxyHandler()

    async def route(scope: Scope, receive: Any, send: Any) -> None:
        app = proxy if proxy.takes(scope) else django
        await app(scope, receive, send)

    return route
