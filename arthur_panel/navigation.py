"""The main navigation of every page (base.html), as data."""

from __future__ import annotations

from typing import NamedTuple

from django.urls import reverse


class NavItem(NamedTuple):
    route: str  # the page's URL name
    label: str
    title: str = ""  # a tooltip, where the label is short
    staff_only: bool = False  # shown to admins (staff) only, as only they may open it


class NavLink(NamedTuple):
    url: str
    label: str
    title: str
    current: bool  # the page being shown (aria-current)


NAV = (
    NavItem("dashboard", "Dashboard"),
    NavItem("models", "Models"),
    NavItem("planner", "Planner"),
    NavItem("downloads", "Downloads"),
    NavItem("cluster", "Cluster"),
    NavItem("logs", "Logs"),
    NavItem("health", "Health"),
    NavItem("alerts", "Alerts", "Firing, pending and silenced alerts, and their history"),
    NavItem("linkbench", "Links", "RDMA link benchmark"),
    NavItem("benchmarks", "Benchmarks", "Model speed per placement against the guide"),
    NavItem("playground", "Playground"),
    NavItem("integrations", "Integrations"),
    NavItem("usage", "Usage"),
    NavItem("jobs", "Jobs"),
    NavItem("audit", "Audit", "Who did what, when and from where", staff_only=True),
    NavItem("keys", "Keys", "API keys"),
)


def nav_links(current_path: str, *, staff: bool = False) -> list[NavLink]:
    """Return the navigation's links the user may follow (the staff-only ones for `staff`),
    the one at `current_path` marked current."""
    links = []
    for item in NAV:
        if item.staff_only and not staff:
            continue
        url = reverse(item.route)
        links.append(NavLink(url, item.label, item.title, url == current_path))
    return links
