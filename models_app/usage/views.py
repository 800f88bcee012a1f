"""The usage page: speed, cost, recent requests, and each key's use against its limits."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cluster_app.access import throttle
from cluster_app.access.keys import keys_visible_to
from models_app.usage.records import usage_summary


def usage(request: HttpRequest) -> HttpResponse:
    live_keys = keys_visible_to(request.user).live()
    return render(request, "models_app/usage.html", {
        "summary": usage_summary(),
        "account_limits": throttle.standing(request.user),
        "key_limits": [(key, throttle.standing(key.user, key)) for key in live_keys]})
