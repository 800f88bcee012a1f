"""The Content Security Policy in a real Chromium: every main page loads, runs its scripts and
opens its sockets without one violation (the pages have no inline script or style)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from cluster_app.models import Job
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# Recorded in the page before any of its own scripts runs: what Chromium refused, and why.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""
PAGES = ["/", "/cluster/", "/nodes/alpha/", "/models/", "/models/deepseek-v3-8bit/",
         "/downloads/", "/planner/", "/health/", "/health/action-plan/", "/logs/",
         "/linkbench/", "/playground/", "/usage/", "/integrations/", "/jobs/", "/jobs/{job}/",
         "/admin/login/", "/api/v1/docs/"]


class Watched:
    """A page whose CSP violations, as events and as console messages, are recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", lambda message: self.console.append(message.text))

    def violations(self) -> list[str]:
        events = self.page.evaluate("window.__cspViolations")
        return events + [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def watched(logged_in: Page) -> Watched:
    return Watched(logged_in)


@pytest.fixture
def job(alice: Any, nodes: Any) -> Job:
    return Job.objects.create(kind="ping", node=nodes["alpha"], created_by=alice,
                              state=Job.State.SUCCEEDED, log_tail=["round 1/1"])


def test_every_main_page_loads_without_a_violation(watched, live_stack, job):
    for path in PAGES:
        watched.console.clear()
        response = watched.page.goto(live_stack.base_url + path.format(job=job.pk))
        assert response is not None and response.ok, path
        assert "Content-Security-Policy" in {name.title() for name in response.headers}, path
        # Until the page's requests are done: its scripts have run and built the page.
        watched.page.wait_for_load_state("networkidle")
        assert watched.violations() == [], path


def test_an_inline_style_would_be_reported(watched, live_stack):
    """The check above can fail: markup with a style attribute is refused and recorded."""
    watched.page.goto(f"{live_stack.base_url}/jobs/")
    watched.page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    assert wait_until(lambda: watched.violations(), timeout=10)
    assert any(v.startswith("style-src") for v in watched.page.evaluate("window.__cspViolations"))
