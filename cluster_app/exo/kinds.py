"""The job kinds of this package (found by the registry): exo on one node, on the whole
cluster, and models loaded into it."""

from __future__ import annotations

from cluster_app.exo import cluster_jobs, instances, node_jobs

KINDS = (node_jobs.START_KIND, node_jobs.STOP_KIND, *cluster_jobs.KINDS, instances.LOAD,
         instances.UNLOAD)
