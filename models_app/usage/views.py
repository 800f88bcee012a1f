"""The usage page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from models_app.usage.records import usage_summary


def usage(request: HttpRequest) -> HttpResponse:
    return render(request, "models_app/usage.html", {"summary": usage_summary()})
