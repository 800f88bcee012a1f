from __future__ import annotations

from django.urls import path

from cluster_app.access import api as keys_api
from cluster_app.alerts import api as alerts_api
from cluster_app.audit import api as audit_api
from cluster_app.exo import api as exo_api
from cluster_app.health import api as health_api
from cluster_app.jobs import api as jobs_api
from cluster_app.linkbench import api as linkbench_api
from cluster_app.logs import api as logs_api
from cluster_app.nodes import api as nodes_api

urlpatterns = [
    path("jobs/", jobs_api.JobListApi.as_view(), name="api-jobs"),
    path("jobs/<int:job_id>/", jobs_api.JobDetailApi.as_view(), name="api-job"),
    *[
        path(f"jobs/<int:job_id>/{action}/", jobs_api.JobControlApi.as_view(action=action),
             name=f"api-job-{action}")
        for action in ("cancel", "pause", "resume")
    ],
    path("nodes/", nodes_api.NodeListApi.as_view(), name="api-nodes"),
    path("nodes/<slug:name>/", nodes_api.NodeDetailApi.as_view(), name="api-node"),
    path("nodes/<slug:name>/history/", nodes_api.NodeHistoryApi.as_view(), name="api-node-history"),
    path("nodes/<slug:name>/start/", exo_api.NodeOperationApi.as_view(kind="exo.start"),
         name="api-node-start"),
    path("nodes/<slug:name>/stop/", exo_api.NodeOperationApi.as_view(kind="exo.stop"),
         name="api-node-stop"),
    path("cluster/", nodes_api.ClusterApi.as_view(), name="api-cluster"),
    path("cluster/models/", exo_api.ExoModelsApi.as_view(), name="api-cluster-models"),
    *[
        path(f"cluster/{operation}/", exo_api.ClusterOperationApi.as_view(operation=operation),
             name=f"api-cluster-{operation}")
        for operation in ("start", "stop", "restart")
    ],
    path("instances/", exo_api.InstanceListApi.as_view(), name="api-instances"),
    path("instances/previews/", exo_api.PreviewsApi.as_view(), name="api-instance-previews"),
    path("instances/<str:instance_id>/", exo_api.InstanceDetailApi.as_view(), name="api-instance"),
    path("logs/", logs_api.LogListApi.as_view(), name="api-logs"),
    path("health/", health_api.HealthApi.as_view(), name="api-health"),
    path("health/doctor/", health_api.DoctorApi.as_view(), name="api-doctor"),
    path("linkbench/", linkbench_api.LinkbenchApi.as_view(), name="api-linkbench"),
    path("alerts/", alerts_api.AlertListApi.as_view(), name="api-alerts"),
    path("audit/", audit_api.AuditListApi.as_view(), name="api-audit"),
    path("keys/", keys_api.KeyListApi.as_view(), name="api-keys"),
    path("keys/<uuid:key_id>/", keys_api.KeyDetailApi.as_view(), name="api-key"),
    path("keys/<uuid:key_id>/revoke/", keys_api.KeyRevokeApi.as_view(), name="api-key-revoke"),
]
