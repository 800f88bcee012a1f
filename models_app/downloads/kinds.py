"""The job kinds of this package (found by the registry)."""

from __future__ import annotations

from models_app.downloads.jobs import DELETE_KIND, DOWNLOAD_KIND

KINDS = (DOWNLOAD_KIND, DELETE_KIND)
