"""The planner page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from models_app.models import LlmModel

GUIDE_SET = ["deepseek-v3-4bit", "llama-3.1-70b", "llama-3.1-8b", "llama-3.2-1b"]
CONTEXTS = [(0, "none (weights only, as the guide's table)"), (4096, "4k"), (8192, "8k"),
            (16384, "16k"), (32768, "32k"), (65536, "64k"), (131072, "128k")]


def planner(request: HttpRequest) -> HttpResponse:
    models = sorted(LlmModel.objects.exclude(n_layers=None), key=lambda m: -m.size_bytes)
    selected = request.GET.get("models", "").split(",") if "models" in request.GET else GUIDE_SET
    return render(request, "models_app/planner.html", {
        "models": models, "selected": selected, "guide_set": GUIDE_SET, "contexts": CONTEXTS})
