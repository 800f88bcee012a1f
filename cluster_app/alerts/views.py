"""The Alerts page: firing, pending and silenced alerts (live), and the history, filtered."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from arthur_panel.exceptions import DomainError
from cluster_app.alerts.selectors import (
    AlertFilters,
    alert_filters,
    alert_history,
    silences_in_force,
)
from cluster_app.models import Alert, AlertRule

PAGE_SIZE = 50


def alerts_page(request: HttpRequest) -> HttpResponse:
    try:
        filters, error = alert_filters(request.GET), ""
    except DomainError as exc:
        filters, error = AlertFilters(), exc.message
    query = request.GET.copy()
    query.pop("page", None)
    page = Paginator(alert_history(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cluster_app/alerts.html", {
        "page": page, "filters": request.GET, "error": error, "query": query.urlencode(),
        "silences": silences_in_force(), "rules": AlertRule.objects.all(),
        "states": Alert.State.values})
