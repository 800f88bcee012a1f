"""The main navigation: one list of items, rendered on every page with the page shown marked."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from arthur_panel.navigation import NAV, nav_links

pytestmark = pytest.mark.django_db

LINK = re.compile(r'<a href="([^"]+)"( aria-current="page")?(?: title="([^"]*)")?>([^<]+)</a>')


def nav_of(html: str) -> list[tuple[str, bool, str, str]]:
    """(url, current, title, label) of each link in the page's main navigation."""
    match = re.search(r'<nav class="nav" aria-label="Main">(.*?)</nav>', html, re.S)
    assert match, "the page has no main navigation"
    return [(url, bool(current), title, label) for url, current, title, label
            in LINK.findall(match.group(1))]


@pytest.fixture
def browser(alice, nodes, guide_models) -> Client:
    client = Client()
    client.force_login(alice)
    return client


EVERYONES = [item for item in NAV if not item.staff_only]


def test_the_links_are_the_items_in_order_and_only_the_page_shown_is_current():
    links = nav_links(reverse("planner"))
    assert [link.label for link in links] == [item.label for item in EVERYONES]
    assert [link.url for link in links if link.current] == ["/planner/"]
    assert links[0].url == "/" and not links[0].current


@pytest.mark.parametrize("item", NAV, ids=[item.route for item in NAV])
def test_every_page_shows_the_navigation_with_itself_marked(browser, alice, item):
    alice.is_staff = True
    alice.save()
    response = browser.get(reverse(item.route))
    assert response.status_code == 200
    links = nav_of(response.content.decode())
    assert [label for _, _, _, label in links] == [i.label for i in NAV]
    assert [url for url, current, _, _ in links if current] == [reverse(item.route)]


def test_a_short_label_keeps_its_tooltip(browser):
    links = nav_of(browser.get(reverse("jobs")).content.decode())
    assert ("/linkbench/", False, "RDMA link benchmark", "Links") in links
    assert ("/jobs/", True, "", "Jobs") in links


def test_a_page_outside_the_navigation_marks_none(browser):
    links = nav_of(browser.get(reverse("model-add")).content.decode())
    assert len(links) == len(EVERYONES)
    assert not [link for link in links if link[1]]


def test_the_staff_only_pages_are_shown_to_staff_only(browser, alice):
    staff_only = [item.label for item in NAV if item.staff_only]
    assert staff_only == ["Audit"]
    labels = [label for *_, label in nav_of(browser.get(reverse("jobs")).content.decode())]
    assert "Audit" not in labels
    alice.is_staff = True
    alice.save()
    labels = [label for *_, label in nav_of(browser.get(reverse("jobs")).content.decode())]
    assert "Audit" in labels
