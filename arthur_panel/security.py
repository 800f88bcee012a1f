"""The Content Security Policy: django-csp's middleware, with the panel's websockets allowed.

CSP 3 lets `connect-src 'self'` cover ws:// and wss:// to the page's own host, but older
browsers (Safari before 15.4) read 'self' as http(s) only, and every live page opens a socket:
the host the request was made to is named with both socket schemes.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


def socket_sources(host: str) -> list[str]:
    """The connect-src entries for the panel's own websockets on `host` (with its port)."""
    return [f"ws://{host}", f"wss://{host}"]


class PanelCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:  # the 400 for it still gets the policy, without sockets
            return parts
        parts.update = {**(parts.update or {}), "connect-src": socket_sources(host)}
        return parts
