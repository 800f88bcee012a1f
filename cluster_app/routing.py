from __future__ import annotations

from django.urls import path

from cluster_app.alerts import consumers as alerts_consumers
from cluster_app.jobs import consumers as jobs_consumers
from cluster_app.logs import consumers as logs_consumers
from cluster_app.nodes import consumers as nodes_consumers

# Named so that pages can hand their URLs to scripts (arthur_panel/url_templates.py).
websocket_urlpatterns = [
    path("ws/jobs/", jobs_consumers.JobsConsumer.as_asgi(), name="ws-jobs"),
    path("ws/jobs/<int:job_id>/", jobs_consumers.JobConsumer.as_asgi(), name="ws-job"),
    path("ws/cluster/", nodes_consumers.ClusterConsumer.as_asgi(), name="ws-cluster"),
    path("ws/logs/", logs_consumers.LogsConsumer.as_asgi(), name="ws-logs"),
    path("ws/alerts/", alerts_consumers.AlertsConsumer.as_asgi(), name="ws-alerts"),
]
