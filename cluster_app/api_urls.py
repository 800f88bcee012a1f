from __future__ import annotations

from django.urls import path

from cluster_app import api, cluster_api, exo_api, health_api, linkbench_api, logs_api

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
    path("nodes/<slug:name>/history/", cluster_api.NodeHistoryApi.as_view(), name="api-node-history"),
    path("nodes/<slug:name>/start/", exo_api.NodeOperationApi.as_view(kind="exo.start"),
         name="api-node-start"),
    path("nodes/<slug:name>/stop/", exo_api.NodeOperationApi.as_view(kind="exo.stop"),
         name="api-node-stop"),
    path("cluster/", cluster_api.ClusterApi.as_view(), name="api-cluster"),
    path("cluster/models/", cluster_api.ExoModelsApi.as_view(), name="api-cluster-models"),
    *[
        path(f"cluster/{operation}/", exo_api.ClusterOperationApi.as_view(operation=operation),
             name=f"api-cluster-{operation}")
        for operation in ("start", "stop", "restart")
    ],
    path("instances/", cluster_api.InstanceListApi.as_view(), name="api-instances"),
    path("instances/previews/", cluster_api.PreviewsApi.as_view(), name="api-instance-previews"),
    path("instances/<str:instance_id>/", cluster_api.InstanceDetailApi.as_view(), name="api-instance"),
    path("logs/", logs_api.LogListApi.as_view(), name="api-logs"),
    path("health/", health_api.HealthApi.as_view(), name="api-health"),
    path("linkbench/", linkbench_api.LinkbenchApi.as_view(), name="api-linkbench"),
]
