"""Every page on a phone (390 x 844) in a real Chromium, as an admin: nothing scrolls sideways
and the navigation is a menu, closed at first, that its button opens. On a desktop the
navigation is laid out as it always was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from arthur_panel.navigation import NAV
from arthur_panel.url_templates import url_templates
from cluster_app.models import Job
from models_app.conversations.services import conversation_create, message_create
from models_app.models import LlmModel
from tests.browser.conftest import signed_in

# Layout needs nothing of PostgreSQL: these run in the SQLite pass only (the passes stay even).
pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True),
              pytest.mark.sqlite_pass]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "phone-dashboard.png"

# Named routes that are no page of their own: the sign-in pages, forms' targets, a download,
# the section the Health page fetches, Prometheus's scrape.
NOT_PAGES = {"login", "logout", "logout-everywhere", "models-import-exo", "model-exo-card",
             "audit-csv", "action-plan", "metrics"}
# Pages with a layout of their own (no panel navigation): the browsable API, outside the
# pages' prefixes, and the admin (Django's own responsive CSS), a namespace of its own.
OWN_LAYOUT = {"api-docs": "/api/v1/docs/", "admin": "/admin/",
              "admin-changelist": "/admin/cluster_app/job/"}
# Where a route has a parameter, what fills it in (made by the `objects` fixture).
PARAMETERS = {"node": "name", "job": "job_id", "model": "slug",
              "conversation": "conversation_id"}


def page_routes() -> dict[str, str]:
    """Return `{route name: URL template}` for every page: each named route outside the API,
    the OpenAI proxy and the websockets that is a page, so a page added to a URLconf is
    visited here without a word in this file (or fails, if it takes an unknown parameter)."""
    routes = {name: template for name, template in url_templates().items()
              if not template.startswith(("/api/", "/v1/", "/ws/")) and name not in NOT_PAGES}
    return {**routes, **OWN_LAYOUT}


ROUTES = page_routes()

# The innermost elements past the viewport's right edge, to say what a failure is about.
OVERFLOWING = """() => {
  const past = (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5;
  return [...document.querySelectorAll("body *")]
    .filter((el) => past(el) && ![...el.children].some(past))
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}#${el.id} `
                 + `in ${el.parentElement.tagName.toLowerCase()}.${el.parentElement.className} `
                 + Math.round(el.getBoundingClientRect().right))
    .slice(0, 12);
}"""


@pytest.fixture
def admin(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root", password="root-password-1")


@pytest.fixture
def objects(admin: Any, nodes: Any, guide_models: None) -> dict[str, str]:
    """What fills in the pages' parameters: a node, a job, the model with the longest repo id
    and a conversation with long words (long names must wrap, not widen the page)."""
    job = Job.objects.create(kind="ping", node=nodes["alpha"], created_by=admin,
                             state=Job.State.SUCCEEDED, log_tail=["round 1/1"])
    model = max(LlmModel.objects.all(), key=lambda model: len(model.repo_id))
    conversation = conversation_create(owner=admin, model=model.slug)
    question = message_create(conversation=conversation, parent_id=None, role="user",
                              content="Why-is-the-sky-blue-" * 8)
    message_create(conversation=conversation, parent_id=question.pk, role="assistant",
                   content="Rayleigh-scattering-" * 20, model=model.slug)
    return {"name": "alpha", "job_id": str(job.pk), "slug": model.slug,
            "conversation_id": str(conversation.pk)}


def open_page(browser: Browser, viewport: dict[str, int], base_url: str, admin: Any) -> Page:
    page = browser.new_context(viewport=viewport).new_page()  # type: ignore[arg-type]
    return signed_in(page, base_url, admin)


@pytest.fixture
def phone(browser: Browser, live_stack: Any, objects: dict[str, str], admin: Any) -> Any:
    page = open_page(browser, PHONE, live_stack.base_url, admin)
    yield page
    page.context.close()


def url_of(route: str, objects: dict[str, str]) -> str:
    template = ROUTES[route]
    return template.format(**{param: objects[param] for param in PARAMETERS.values()
                              if f"{{{param}}}" in template})


def test_every_parameter_of_a_page_is_known():
    """A new page with a parameter needs an object made for it in `objects`."""
    for route, template in ROUTES.items():
        params = {part.split("}")[0] for part in template.split("{")[1:]}
        assert params <= set(PARAMETERS.values()), (route, template)


def test_every_navigation_item_is_visited():
    assert {item.route for item in NAV} <= ROUTES.keys()
    assert {"node", "job", "model", "account", "admin"} <= ROUTES.keys()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_page_fits_a_phone(phone, live_stack, objects, route):
    response = phone.goto(live_stack.base_url + url_of(route, objects))
    assert response is not None and response.ok, route
    # Until its requests are done: the scripts have drawn what they draw.
    phone.wait_for_load_state("networkidle")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (route, width, phone.evaluate(OVERFLOWING))


@pytest.mark.parametrize("route", sorted(ROUTES.keys() - OWN_LAYOUT.keys()))
def test_the_navigation_is_a_menu_on_a_phone(phone, live_stack, objects, route):
    phone.goto(live_stack.base_url + url_of(route, objects))
    button = phone.get_by_role("button", name="Menu")
    links = phone.get_by_role("navigation", name="Main").get_by_role("link")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(links.first).to_be_hidden()
    # The first screen shows the page's own heading, not a column of links.
    heading = phone.locator("main h1").bounding_box()
    assert heading is not None and heading["y"] < PHONE["height"] / 3, heading

    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    assert links.count() == len(NAV)  # an admin sees every item
    for index in range(links.count()):
        expect(links.nth(index)).to_be_visible()
    for name in ("API docs", "Admin", "root"):
        expect(phone.get_by_role("link", name=name, exact=True)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    button.click()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(links.first).to_be_hidden()


def test_the_login_page_fits_a_phone(browser, live_stack):
    page = browser.new_context(viewport=PHONE).new_page()  # type: ignore[arg-type]
    try:
        page.goto(f"{live_stack.base_url}/login/")
        expect(page.get_by_label("Username")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        page.context.close()


def test_the_menu_works_from_the_keyboard(phone, live_stack):
    button = phone.get_by_role("button", name="Menu")
    button.focus()
    phone.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("navigation", name="Main").get_by_role("link").first).to_be_focused()
    # Escape closes it and gives the focus back to its button.
    phone.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    phone.keyboard.press("Space")
    expect(button).to_have_attribute("aria-expanded", "true")


def test_the_dashboard_on_a_phone(phone, live_stack):
    expect(phone.locator("article[data-node=alpha] .badge")).to_have_text("online")
    phone.wait_for_load_state("networkidle")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    phone.screenshot(path=str(SCREENSHOT))


def test_the_navigation_stays_open_on_a_desktop(browser, live_stack, objects, admin):
    page = open_page(browser, DESKTOP, live_stack.base_url, admin)
    try:
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        for index in range(links.count()):
            expect(links.nth(index)).to_be_in_viewport()
        # In the bar as before: the links side by side, beside the brand.
        boxes = [links.nth(index).bounding_box() for index in (0, 1)]
        brand = page.locator(".brand").bounding_box()
        assert boxes[0] and boxes[1] and brand
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"], boxes
        assert boxes[0]["x"] > brand["x"] + brand["width"], (boxes, brand)
    finally:
        page.context.close()
