from __future__ import annotations

from django.urls import path

from cluster_app.access import views as access_views
from cluster_app.account import views as account_views
from cluster_app.alerts import views as alerts_views
from cluster_app.audit import views as audit_views
from cluster_app.health import views as health_views
from cluster_app.jobs import views as jobs_views
from cluster_app.linkbench import views as linkbench_views
from cluster_app.logs import views as logs_views
from cluster_app.metrics.api import MetricsApi
from cluster_app.nodes import views as nodes_views

urlpatterns = [
    path("", nodes_views.dashboard, name="dashboard"),
    path("jobs/", jobs_views.job_list, name="jobs"),
    path("jobs/<int:job_id>/", jobs_views.job_detail, name="job"),
    path("cluster/", nodes_views.cluster, name="cluster"),
    path("nodes/<slug:name>/", nodes_views.node_page, name="node"),
    path("logs/", logs_views.logs_page, name="logs"),
    path("health/", health_views.health, name="health"),
    path("linkbench/", linkbench_views.linkbench_page, name="linkbench"),
    path("alerts/", alerts_views.alerts_page, name="alerts"),
    path("audit/", audit_views.audit_page, name="audit"),
    path("account/", account_views.account_page, name="account"),
    path("account/logout-everywhere/", account_views.logout_everywhere,
         name="logout-everywhere"),
    path("audit/export.csv", audit_views.audit_csv, name="audit-csv"),
    path("keys/", access_views.keys_page, name="keys"),
    path("metrics", MetricsApi.as_view(), name="metrics"),
]
