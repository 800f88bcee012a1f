from __future__ import annotations

from django.urls import path

from cluster_app import health_views, linkbench_views, logs_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("cluster/", views.cluster, name="cluster"),
    path("logs/", logs_views.logs_page, name="logs"),
    path("health/", health_views.health, name="health"),
    path("linkbench/", linkbench_views.linkbench_page, name="linkbench"),
]
