"""The job kinds of this package (found by the registry)."""

from __future__ import annotations

from models_app.bench.jobs import BENCH

KINDS = (BENCH,)
