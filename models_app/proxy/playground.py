"""The Playground (chat with loaded models through the panel's own `/v1`) and the Integrations
page (ready-to-paste settings for clients pointed at the panel)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LLM_QUERY_SCRIPT = settings.BASE_DIR / "scripts" / "llm_query.sh"


def panel_url(request: HttpRequest) -> str:
    """This panel's URL as the browser reached it, without the trailing slash."""
    return request.build_absolute_uri("/").rstrip("/")


def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "models_app/playground.html",
                  {"max_tokens_limit": settings.CHAT_MAX_TOKENS})


def integrations(request: HttpRequest) -> HttpResponse:
    return render(request, "models_app/integrations.html", {
        "panel_url": panel_url(request),
        "username": request.user.get_username(),
        "script": LLM_QUERY_SCRIPT.read_text(),
    })
