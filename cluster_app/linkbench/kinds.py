"""The job kinds of this package (found by the registry)."""

from __future__ import annotations

from cluster_app.linkbench.job import LINKBENCH

KINDS = (LINKBENCH,)
