"""Roles and keys in a real Chromium: a viewer is shown no button the API would refuse him;
a user makes a key on the Keys page, sees its secret once, copies it, and revokes it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from cluster_app.models import ApiToken

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_viewer_sees_no_button_he_may_not_use(logged_in_viewer, live_stack):
    page = logged_in_viewer
    page.goto(f"{live_stack.base_url}/cluster/")
    expect(page.locator("#ops-not-allowed")).to_be_visible()
    for name in ("Start cluster", "Stop cluster", "Restart"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    page.goto(f"{live_stack.base_url}/")
    expect(page.locator("article[data-node=alpha]")).to_be_visible()
    expect(page.get_by_role("button", name="Ping worker")).to_have_count(0)
    page.goto(f"{live_stack.base_url}/models/")
    expect(page.get_by_role("button", name="Download")).to_have_count(0)
    page.goto(f"{live_stack.base_url}/health/")
    expect(page.get_by_role("button", name="Run checks now")).to_have_count(0)
    page.goto(f"{live_stack.base_url}/linkbench/")
    expect(page.get_by_role("button", name="Run benchmark")).to_have_count(0)
    page.goto(f"{live_stack.base_url}/downloads/")
    expect(page.locator('#matrix tr[data-key="llama-3.2-1b"]')).to_be_visible()
    expect(page.get_by_role("button", name="Download to ALPHA")).to_have_count(0)


def test_an_operator_sees_the_buttons(logged_in, live_stack):
    page = logged_in
    page.goto(f"{live_stack.base_url}/cluster/")
    expect(page.get_by_role("button", name="Stop cluster")).to_be_visible()
    page.goto(f"{live_stack.base_url}/models/")
    expect(page.get_by_role("button", name="Download").first).to_be_visible()


def test_a_key_is_made_shown_once_copied_and_revoked(logged_in_viewer, live_stack):
    page = logged_in_viewer
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live_stack.base_url)
    page.goto(f"{live_stack.base_url}/keys/")
    expect(page.locator("input[name=scopes][value=operate]")).to_be_disabled()
    expect(page.locator("input[name=scopes][value=chat]")).to_be_checked()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#key-secret-value")
    expect(secret).to_have_text(re.compile(r"^arthur_\S{20,}$"))
    value = secret.inner_text()
    key = ApiToken.objects.get()
    assert key.digest == ApiToken.digest_of(value) and key.scopes == ["chat"]
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == value
    row = page.locator(f'tr[data-key="{key.pk}"]')
    expect(row).to_have_attribute("data-state", "active")
    expect(row).to_contain_text("laptop")

    page.reload()  # shown once: never again
    expect(page.locator(f'tr[data-key="{key.pk}"]')).to_be_visible()
    expect(page.locator("#key-secret")).to_be_hidden()
    assert value not in page.content()

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-key="{key.pk}"]').get_by_role("button", name="Revoke").click()
    expect(page.locator(f'tr[data-key="{key.pk}"]')).to_have_attribute("data-state", "revoked")
    expect(page.locator(f'tr[data-key="{key.pk}"]').get_by_role("button")).to_have_count(0)
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_keys_limits_are_set_shown_with_their_use_and_changed(logged_in_viewer, live_stack):
    page = logged_in_viewer
    page.goto(f"{live_stack.base_url}/keys/")
    expect(page.locator("fieldset.limits legend")).to_contain_text(
        "chat requests per minute: 300")  # the account's own limit, RATE_* by default
    page.get_by_label("Name").fill("runaway script")
    page.get_by_label("Chat requests per minute").fill("60")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-secret-value")).to_be_visible()
    key = ApiToken.objects.get()
    assert (key.chat_requests_per_minute, key.max_streams) == (60, None)
    row = page.locator(f'tr[data-key="{key.pk}"]')
    expect(row.locator('li[data-kind="chat_requests_per_minute"]')).to_have_text(
        "chat requests per minute: 0 / 60")
    expect(row.locator('li[data-kind="chat_requests_per_minute"] meter')).to_have_count(1)
    expect(row.locator('li[data-kind="max_streams"]')).to_have_text(
        "chat requests running at once: 0 / —")

    row.get_by_role("button", name="Edit limits").click()
    row.get_by_label("API requests per minute").fill("30")
    row.get_by_label("chat requests per minute").fill("")
    row.get_by_role("button", name="Save").click()
    expect(row.locator('li[data-kind="api_requests_per_minute"]')).to_have_text(
        "API requests per minute: 0 / 30")
    expect(row.locator('li[data-kind="chat_requests_per_minute"]')).to_have_text(
        "chat requests per minute: 0 / —")
    key.refresh_from_db()
    assert (key.api_requests_per_minute, key.chat_requests_per_minute) == (30, None)
