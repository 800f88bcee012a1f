"""The Keys page: the user's API keys (an admin sees everyone's), a form to make one, its
secret shown once; static/js/keys.js does the work through `/api/v1/keys/`."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.access import throttle
from cluster_app.access.limits import KINDS, LABELS
from cluster_app.access.permissions import ADMINISTER
from cluster_app.access.rules import SCOPES, scopes_beyond

SCOPE_HELP = {
    "chat": "only /v1/*: the OpenAI- and Anthropic-compatible chat",
    "read": "GET on the API and the websockets",
    "operate": "also jobs: downloads, load/unload, cluster start/stop, health, link benchmark",
    "admin": "also node settings, other users' keys, users",
}


def keys_page(request: HttpRequest) -> HttpResponse:
    beyond = set(scopes_beyond(SCOPES, request.user.has_perm))
    scopes = [(scope, SCOPE_HELP[scope], scope not in beyond) for scope in SCOPES]
    return render(request, "cluster_app/keys.html", {
        "scopes": scopes, "all_users": request.user.has_perm(ADMINISTER),
        "limit_kinds": [(kind, LABELS[kind]) for kind in KINDS],
        "user_limits": user_limits_text()})


def user_limits_text() -> str:
    """Each user's own limits, in words (the settings RATE_*)."""
    return "; ".join(f"{LABELS[kind]}: {allowed or 'no limit'}"
                     for kind, allowed in throttle.user_limits().items())
