"""The job kinds of this package (found by the registry)."""

from __future__ import annotations

from cluster_app.health.services import HEALTH_RUN_KIND

KINDS = (HEALTH_RUN_KIND,)
