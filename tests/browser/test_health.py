"""The Health page in a real Chromium: "Run checks now", the job followed live, the checklist
with its evidence, and the guide's action plan beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "health.png"


def test_run_checks_now_shows_the_checklist(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/health/")
    plan = page.locator("#action-plan")
    expect(plan.locator(".step")).to_have_count(5)
    expect(plan.locator("[data-step=claude]")).to_contain_text("Connect Claude Code")
    expect(plan.get_by_role("link", name="Set up Claude Code")).to_have_attribute(
        "href", "/integrations/#claude-code")

    page.get_by_role("button", name="Run checks now").click()
    expect(page.locator("#health-job .job-row")).to_contain_text("health.run")
    expect(page.locator("#health-job .state")).to_have_text("succeeded", timeout=30000)

    checks = page.locator("#health-checks")
    exo = checks.locator("[data-check=exo_api]")
    expect(exo.locator(".badge")).to_have_text("pass")
    expect(exo).to_contain_text("exo answers at http://127.0.0.1:")
    nodes = checks.locator("[data-check=cluster_nodes]")
    nodes.get_by_text("Evidence").click()
    expect(nodes.locator(".evidence-text")).to_contain_text("ALPHA: 512 GB")
    expect(nodes.locator(".evidence-text")).to_contain_text("BETA: 256 GB")
    rdma = checks.locator("[data-check=rdma_device][data-scope=beta]")
    expect(rdma.locator(".badge")).to_have_text("not available")
    expect(rdma).to_contain_text("ibv_devinfo not found on BETA")
    expect(checks.locator("[data-check=mlx][data-scope=alpha]")).to_contain_text("MLX")
    expect(page.locator("#health-empty")).to_be_hidden()
    expect(page.get_by_role("button", name="Run checks now")).to_be_enabled()
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_run_the_doctor_shows_each_verdict_and_its_fix(logged_in, live_stack):
    """The stack's workers answer for every node; on SQLite the doctor says only one machine
    can use the database, on PostgreSQL (the suite's second pass) it passes."""
    page = logged_in
    page.goto(f"{live_stack.base_url}/health/")
    doctor = page.locator("#doctor")
    page.get_by_role("button", name="Run the doctor").click()
    expect(doctor.locator("#doctor-job .state")).to_have_text("succeeded", timeout=30000)
    database = doctor.locator("[data-check='doctor.database']")
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        expect(database.locator(".badge")).to_have_text("warn")
        expect(database).to_contain_text("only this machine can use it")
        expect(database.locator(".fix")).to_contain_text("Fix: Workers on other machines need")
    else:
        expect(database.locator(".badge")).to_have_text("pass")
        expect(database).to_contain_text("migrations applied, none missing")
    expect(doctor.locator("[data-check='doctor.redis'] .badge")).to_have_text("pass")
    for name, label in (("alpha", "ALPHA"), ("beta", "BETA"), ("gamma", "GAMMA")):
        worker = doctor.locator(f"[data-check='doctor.worker'][data-scope={name}]")
        expect(worker.locator(".badge")).to_have_text("pass")
        expect(worker).to_contain_text(f"{label}'s worker answers on node.{name}.control")
    expect(doctor.locator("[data-check='doctor.versions'] .badge")).to_have_text("pass")
    expect(doctor.locator("#doctor-overall")).to_have_text("warn" if sqlite else "pass")
    expect(page.get_by_role("button", name="Run the doctor")).to_be_enabled()
    doctor.screenshot(path=str(SCREENSHOT.parent / "doctor.png"))
