"""The Playground (chat with loaded models through the panel's own `/v1`) and the Integrations
page (ready-to-paste settings for clients pointed at the panel)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from arthur_panel.exceptions import NotFound
from models_app.conversations.selectors import conversation_of
from models_app.models import NameRoute, RouteRule

LLM_QUERY_SCRIPT = settings.BASE_DIR / "scripts" / "llm_query.sh"
# Claude Code's main work is coding; its background work (Haiku's) wants the quick route.
MAIN_TASK, BACKGROUND_TASK = "coding", "quick"


def panel_url(request: HttpRequest) -> str:
    """This panel's URL as the browser reached it, without the trailing slash."""
    return request.build_absolute_uri("/").rstrip("/")


def playground(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    """The Playground, opening conversation `conversation_id` (the user's own, else a 404),
    `?c=<id>`, or the most recent one."""
    if conversation_id is not None:
        try:
            conversation_of(request.user, conversation_id)
        except NotFound:
            raise Http404("No such conversation.") from None
    return render(request, "models_app/playground.html",
                  {"max_tokens_limit": settings.CHAT_MAX_TOKENS,
                   "conversation_id": conversation_id})


def first_choice(task: str, fallback: str) -> str:
    """The model the router tries first for `task` (a catalogue slug)."""
    rule = RouteRule.objects.filter(task=task).first()
    return rule.slugs[0] if rule and rule.slugs else fallback


def integrations(request: HttpRequest) -> HttpResponse:
    main = first_choice(MAIN_TASK, "deepseek-v3-4bit")
    return render(request, "models_app/integrations.html", {
        "panel_url": panel_url(request),
        "username": request.user.get_username(),
        "script": LLM_QUERY_SCRIPT.read_text(),
        "claude_main": main,
        "claude_background": first_choice(BACKGROUND_TASK, main),
        "name_routes": NameRoute.objects.filter(enabled=True).select_related("rule"),
    })
