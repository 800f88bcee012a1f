"""`/api/v1/conversations/`: the caller's saved Playground chats (list with `?q=` search,
create, read with the tree and the thread, change, delete), their messages, the export as
Markdown or JSON, and `/api/v1/presets/`, the system prompts to pick from.

Every role may keep conversations (its own only: another user's is a 404). With an API key,
reading needs the `read` scope and changing needs `operate`, as everywhere under /api/v1/; the
`chat` scope stays the proxy's alone."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.errors import get_or_404
from arthur_panel.exceptions import DomainError
from cluster_app.access.rules import OPERATE
from models_app.conversations import selectors, services
from models_app.conversations.serializers import (
    ConversationChangeRequest,
    ConversationDetailSerializer,
    ConversationPageSerializer,
    ConversationSerializer,
    ConversationWriteRequest,
    MessageCreateRequest,
    MessageSerializer,
    PresetCreateRequest,
    PresetSerializer,
)
from models_app.conversations.tree import export_filename, to_markdown
from models_app.models import Conversation

EXPORT_FORMATS = ("md", "json")


class OwnDataApi(ApiView):
    """A user's own chats: any role may change them; a key changes them with `operate`."""

    write_permission = None

    @property
    def key_scope(self) -> str | None:
        return None if self.request.method in SAFE_METHODS else OPERATE


class ConversationPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        # A page past the end is a bad query (400), not a missing object (404).
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise DomainError(f"page: {exc.detail}", code="invalid_page") from None


def detail(conversation: Conversation) -> dict[str, Any]:
    messages = selectors.messages_of(conversation)
    return ConversationDetailSerializer(conversation, context={
        "messages": messages, "thread": selectors.thread_of(conversation, messages)}).data


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    if "parameters" in data:
        data["parameters"] = {k: v for k, v in data["parameters"].items() if v is not None}
    return data


class ConversationListApi(OwnDataApi):
    @extend_schema(operation_id="api_v1_conversations_list",
                   parameters=[OpenApiParameter("q", description="Words in a title or message"),
                               OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=ConversationPageSerializer)
    def get(self, request: Request) -> Response:
        found = selectors.conversations_of(request.user, q=request.query_params.get("q", ""))
        pages = ConversationPagination()
        page = pages.paginate_queryset(found, request, view=self)
        return pages.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(request=ConversationWriteRequest, responses={201: ConversationDetailSerializer})
    def post(self, request: Request) -> Response:
        data = ConversationWriteRequest(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_create(owner=request.user,
                                                    **_settings(dict(data.validated_data)))
        return Response(detail(conversation), status=status.HTTP_201_CREATED)


class ConversationDetailApi(OwnDataApi):
    @extend_schema(responses=ConversationDetailSerializer)
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(detail(selectors.conversation_of(request.user, conversation_id)))

    @extend_schema(request=ConversationChangeRequest, responses=ConversationDetailSerializer)
    def patch(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_of(request.user, conversation_id)
        data = ConversationChangeRequest(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_update(
            conversation=conversation, changes=_settings(dict(data.validated_data)))
        return Response(detail(conversation))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, conversation_id: int) -> Response:
        services.conversation_delete(
            conversation=selectors.conversation_of(request.user, conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageCreateApi(OwnDataApi):
    @extend_schema(request=MessageCreateRequest, responses={201: MessageSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_of(request.user, conversation_id)
        data = MessageCreateRequest(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        message = services.message_create(conversation=conversation,
                                          parent_id=fields.pop("parent"), **fields)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ConversationExportApi(OwnDataApi):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # `format` names the export here, not one of DRF's renderers; errors stay JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(parameters=[OpenApiParameter("format", enum=EXPORT_FORMATS,
                                                description="md (default) or json")],
                   responses={(200, "text/markdown"): OpenApiTypes.STR,
                              (200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, conversation_id: int) -> HttpResponse:
        conversation = selectors.conversation_of(request.user, conversation_id)
        wanted = request.query_params.get("format", "md")
        if wanted not in EXPORT_FORMATS:
            raise DomainError(f"format must be one of {', '.join(EXPORT_FORMATS)}.",
                              code="invalid_format")
        body = detail(conversation)
        by_id = {message["id"]: message for message in body["messages"]}
        thread = [by_id[pk] for pk in body["thread"]]
        if wanted == "md":
            response = HttpResponse(to_markdown(body, thread),
                                    content_type="text/markdown; charset=utf-8")
        else:
            response = HttpResponse(json.dumps({**body, "thread_messages": thread}, indent=2),
                                    content_type="application/json")
        name = export_filename(conversation.title, conversation.pk, wanted)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class PresetListApi(OwnDataApi):
    @extend_schema(responses=PresetSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(PresetSerializer(selectors.presets_for(request.user), many=True).data)

    @extend_schema(request=PresetCreateRequest, responses={201: PresetSerializer})
    def post(self, request: Request) -> Response:
        data = PresetCreateRequest(data=request.data)
        data.is_valid(raise_exception=True)
        preset = services.preset_create(owner=request.user, **data.validated_data)
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


class PresetDetailApi(OwnDataApi):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, preset_id: int) -> Response:
        # The seeded presets are everyone's: only one's own may be deleted.
        preset = get_or_404(selectors.own_presets(request.user), "Preset", pk=preset_id)
        services.preset_delete(preset=preset)
        return Response(status=status.HTTP_204_NO_CONTENT)
