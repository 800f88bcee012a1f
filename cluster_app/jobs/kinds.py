"""The job kinds of this package (found by the registry)."""

from __future__ import annotations

from cluster_app.jobs.ping import PING

KINDS = (PING,)
