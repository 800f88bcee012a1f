from __future__ import annotations

from django.urls import path

from cluster_app import consumers, logs_consumer

websocket_urlpatterns = [
    path("ws/jobs/", consumers.JobsConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", consumers.JobConsumer.as_asgi()),
    path("ws/cluster/", consumers.ClusterConsumer.as_asgi()),
    path("ws/logs/", logs_consumer.LogsConsumer.as_asgi()),
]
