from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework import serializers

from cluster_app.models import Job, Node


class JobSerializer(serializers.ModelSerializer):
    node: serializers.SlugRelatedField[Node] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "url", "kind", "node", "params", "state", "control", "progress", "done",
                  "total", "unit", "speed", "eta_seconds", "message", "log_tail", "detail", "error",
                  "error_code", "result",
                  "celery_task_id", "attempts", "created_by", "created_at", "started_at",
                  "finished_at", "heartbeat_at", "updated_at"]
        read_only_fields = fields
        ref_name = "Job"

    def get_url(self, job: Job) -> str:
        return f"/jobs/{job.pk}/"


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=40)
    node = serializers.SlugRelatedField(slug_field="name", queryset=Node.objects.all(),
                                        required=False, allow_null=True)
    params = serializers.DictField(required=False, default=dict)

    class Meta:
        ref_name = "JobCreate"
