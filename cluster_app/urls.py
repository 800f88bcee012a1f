from __future__ import annotations

from django.urls import path

from cluster_app import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("cluster/", views.cluster, name="cluster"),
    path("logs/", views.PlannedPage.as_view(
        title="Logs",
        summary="Live exo and runner log lines from every node, with JACCL, RDMA and error "
                "filters and hints for known failures."), name="logs"),
]
