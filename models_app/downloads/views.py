"""The downloads page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def downloads(request: HttpRequest) -> HttpResponse:
    return render(request, "models_app/downloads.html")
