"""The Audit page (admins only): the log, filtered, a page at a time, and as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from arthur_panel.exceptions import DomainError
from cluster_app.audit.selectors import AuditFilters, audit_entries, audit_filters
from cluster_app.models import AuditEntry

PAGE_SIZE = 50
CSV_COLUMNS = ["time", "user", "token", "address", "action", "target", "params", "outcome",
               "message"]
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _admins_only(request: HttpRequest) -> None:
    # A 403 page, not the admin's login redirect: the user is signed in, just not an admin.
    if not request.user.is_staff:
        raise PermissionDenied("The audit log is for admins.")


def _filters(request: HttpRequest) -> tuple[AuditFilters, str]:
    """The page's filters and the error to show instead when a time is not one."""
    try:
        return audit_filters(request.GET), ""
    except DomainError as exc:
        return AuditFilters(), exc.message


def audit_page(request: HttpRequest) -> HttpResponse:
    _admins_only(request)
    filters, error = _filters(request)
    page = Paginator(audit_entries(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode(filters.as_query())
    return render(request, "cluster_app/audit.html", {
        "page": page, "filters": request.GET, "error": error, "query": query})


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _rows(entries: Iterator[AuditEntry]) -> Iterator[list[str]]:
    yield CSV_COLUMNS
    for entry in entries:
        yield [_cell(value) for value in (
            entry.created_at.isoformat(), entry.username, entry.token_hint, entry.address,
            entry.action, entry.target, entry.params, entry.outcome, entry.message)]


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    _admins_only(request)
    filters, error = _filters(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain")
    writer = csv.writer(_Echo())
    rows = _rows(audit_entries(filters).iterator())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows),
                                     content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


