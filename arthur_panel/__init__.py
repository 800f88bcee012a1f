from __future__ import annotations

from arthur_panel.celery import app as celery_app

__all__ = ("celery_app",)
