from __future__ import annotations

from django.urls import path

from cluster_app import api

urlpatterns = [
    path("jobs/", api.JobListApi.as_view(), name="api-jobs"),
    path("jobs/<int:job_id>/", api.JobDetailApi.as_view(), name="api-job"),
    *[
        path(f"jobs/<int:job_id>/{action}/", api.JobControlApi.as_view(action=action),
             name=f"api-job-{action}")
        for action in ("cancel", "pause", "resume")
    ],
    path("nodes/", api.NodeListApi.as_view(), name="api-nodes"),
    path("nodes/<slug:name>/", api.NodeDetailApi.as_view(), name="api-node"),
]
