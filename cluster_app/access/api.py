"""`/api/v1/keys/`: the caller's API keys (everyone's for an admin); create one (its secret
answered once); revoke one. With an API key rather than the browser session, these need the
admin scope: a key must not mint wider keys."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.errors import get_or_404
from arthur_panel.exceptions import DomainError
from cluster_app.access import keys, throttle
from cluster_app.access.limits import KINDS, LABELS
from cluster_app.access.rules import ADMIN, SCOPES, parse_expiry
from cluster_app.models import ApiToken


class LimitUseSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(KINDS)
    name = serializers.CharField(help_text="What it limits, in words")
    used = serializers.IntegerField(help_text="Requests in the last minute, tokens today, or "
                                              "requests running now")
    allowed = serializers.IntegerField(allow_null=True, help_text="The key's own limit; null: "
                                                                  "only its user's applies")

    class Meta:
        ref_name = "ApiKeyLimitUse"


class KeySerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True)
    state = serializers.CharField(read_only=True, help_text="active, expired or revoked")
    usage = serializers.SerializerMethodField(help_text="Each limit's use now")

    class Meta:
        model = ApiToken
        ref_name = "ApiKey"
        fields = ["id", "name", "note", "hint", "user", "scopes", "allowed_models", "expires_at",
                  "created_at", "last_used_at", "last_used_from", "revoked_at", "state",
                  *KINDS, "usage"]
        read_only_fields = fields

    @extend_schema_field(LimitUseSerializer(many=True))
    def get_usage(self, key: ApiToken) -> list[dict[str, Any]]:
        return throttle.standing(key.user, key)


class KeyCreatedSerializer(KeySerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown this once; only its hash "
                                                             "is kept")

    class Meta(KeySerializer.Meta):
        ref_name = "ApiKeyCreated"
        fields = [*KeySerializer.Meta.fields, "secret"]
        read_only_fields = fields


def _limit_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=2_000_000_000, required=False,
                                    allow_null=True, default=None)


class KeyLimitsRequest(serializers.Serializer):
    """A key's own limits: a number, or null for none (its user's limits apply either way)."""

    chat_requests_per_minute = _limit_field()
    chat_tokens_per_day = _limit_field()
    api_requests_per_minute = _limit_field()
    max_streams = _limit_field()

    class Meta:
        ref_name = "ApiKeyLimits"


class KeyCreateRequest(KeyLimitsRequest):
    name = serializers.CharField(max_length=80)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    scopes = serializers.ListField(child=serializers.ChoiceField(SCOPES), min_length=1,
                                   max_length=len(SCOPES))
    models = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=50,
        help_text="Names of the models a chat key may use (slugs, aliases, repo ids); none: all")
    expires = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="",
        help_text="A span (30d, 12h, 2w) or an ISO date; empty: never")

    class Meta:
        ref_name = "ApiKeyCreateRequest"


class KeyListApi(ApiView):
    write_permission = None  # every role may make keys, within its own permissions
    key_scope = ADMIN

    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(KeySerializer(keys.keys_visible_to(request.user), many=True).data)

    @extend_schema(request=KeyCreateRequest, responses={201: KeyCreatedSerializer})
    def post(self, request: Request) -> Response:
        data = KeyCreateRequest(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            expires_at = (parse_expiry(data.validated_data["expires"], timezone.now())
                          if data.validated_data["expires"] else None)
        except ValueError as exc:
            raise DomainError(str(exc), code="invalid_expiry") from None
        key, secret = keys.key_create(
            user=request.user, name=data.validated_data["name"],
            scopes=[scope for scope in SCOPES if scope in data.validated_data["scopes"]],
            models=data.validated_data["models"], expires_at=expires_at,
            note=data.validated_data["note"],
            limits={kind: data.validated_data[kind] for kind in KINDS})
        key.secret = secret  # type: ignore[attr-defined]
        return Response(KeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class KeyRevokeApi(ApiView):
    write_permission = None  # one's own keys; another user's: key_revoke asks for ADMINISTER
    key_scope = ADMIN

    @extend_schema(request=None, responses=KeySerializer)
    def post(self, request: Request, key_id: str) -> Response:
        key = get_or_404(keys.keys_visible_to(request.user), "Key", pk=key_id)
        key = keys.key_revoke(key=key, user=request.user, token=request.auth)
        return Response(KeySerializer(key).data)


class KeyDetailApi(ApiView):
    write_permission = None  # one's own keys; another user's: key_set_limits asks for ADMINISTER
    key_scope = ADMIN

    @extend_schema(responses=KeySerializer)
    def get(self, request: Request, key_id: str) -> Response:
        return Response(KeySerializer(get_or_404(keys.keys_visible_to(request.user), "Key",
                                                 pk=key_id)).data)

    @extend_schema(request=KeyLimitsRequest, responses=KeySerializer,
                   description="Set a key's own limits (" + ", ".join(LABELS.values()) + "); "
                               "the fields left out stay as they are.")
    def patch(self, request: Request, key_id: str) -> Response:
        data = KeyLimitsRequest(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        key = get_or_404(keys.keys_visible_to(request.user), "Key", pk=key_id)
        key = keys.key_set_limits(key=key, user=request.user, limits=dict(data.validated_data),
                                  token=request.auth)
        return Response(KeySerializer(key).data)
