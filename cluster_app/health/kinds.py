"""The job kinds of this package (found by the registry)."""

from __future__ import annotations

from cluster_app.health.doctor import DOCTOR_KIND
from cluster_app.health.services import HEALTH_RUN_KIND

KINDS = (HEALTH_RUN_KIND, DOCTOR_KIND)
