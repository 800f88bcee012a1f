"""`GET /api/v1/alerts/`: the counts, the active alerts and the history (filters `state`,
`rule`, `subject`, `since`); `POST /api/v1/alerts/` silences a rule for a subject for a while
(`{"rule", "subject", "minutes"}`, 0 lifts it; the operator role)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from cluster_app.alerts.events import alert_payload, alerts_summary
from cluster_app.alerts.selectors import alert_filters, alert_history
from cluster_app.alerts.services import alert_silence

HISTORY_LIMIT = 200


class SilenceSerializer(serializers.Serializer):
    rule = serializers.SlugField(max_length=40)
    subject = serializers.CharField(max_length=200)
    minutes = serializers.IntegerField(min_value=0, help_text="0 lifts the silence")
    reason = serializers.CharField(max_length=200, required=False, default="")

    class Meta:
        ref_name = "AlertSilenceRequest"


class AlertListApi(ApiView):
    @extend_schema(parameters=[OpenApiParameter(name) for name in
                               ("state", "rule", "subject", "since")], responses=dict)
    def get(self, request: Request) -> Response:
        history = alert_history(alert_filters(request.query_params))[:HISTORY_LIMIT]
        return Response({**alerts_summary(),
                         "history": [alert_payload(alert) for alert in history]})

    @extend_schema(request=SilenceSerializer, responses=dict)
    def post(self, request: Request) -> Response:
        params = SilenceSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        silence = alert_silence(rule_key=data["rule"], subject=data["subject"],
                                minutes=data["minutes"], reason=data["reason"],
                                user=request.user)
        body = {"rule": data["rule"], "subject": data["subject"],
                "until": silence.until.isoformat() if silence else None}
        return Response(body, status=status.HTTP_201_CREATED if silence else status.HTTP_200_OK)
