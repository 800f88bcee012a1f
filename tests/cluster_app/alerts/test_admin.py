"""The admin's side of alerts: rules' thresholds and "for" edited (audited), never added or
deleted; a channel's URL checked; "Send a test notice" queues one delivery per channel."""

from __future__ import annotations

import pytest
from django.test import Client

from cluster_app.models import AlertChannel, AlertDelivery, AlertRule, AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model):
    user = django_user_model.objects.create_superuser("root", password="root-password-1")
    client = Client()
    client.force_login(user)
    return client


def test_send_a_test_notice_queues_a_delivery_per_channel(admin_client,
                                                          django_capture_on_commit_callbacks):
    hook = AlertChannel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/")
    mail = AlertChannel.objects.create(name="mail", kind="email", recipients="a@b.example",
                                       enabled=False)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post("/admin/cluster_app/alertchannel/", {
            "action": "send_test", "_selected_action": [hook.pk, mail.pk]}, follow=True)
    assert response.status_code == 200
    assert "Test notice queued to 2 channel(s)" in response.content.decode()
    assert sorted(AlertDelivery.objects.values_list("channel__name", "event", "status")) == [
        ("hook", "test", "pending"), ("mail", "test", "pending")]
    assert len(callbacks) == 1  # sent to the workers once committed
    assert AuditEntry.objects.get(action="alert.channel.test").target == "hook, mail"


def test_a_rule_is_edited_audited_and_never_added_or_deleted(admin_client):
    rule = AlertRule.objects.get(key="memory_critical")
    page = admin_client.get(f"/admin/cluster_app/alertrule/{rule.pk}/change/")
    assert page.status_code == 200
    response = admin_client.post(f"/admin/cluster_app/alertrule/{rule.pk}/change/", {
        "name": rule.name, "description": rule.description, "severity": "critical",
        "threshold": "0.95", "for_seconds": "30", "enabled": "on"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.threshold, rule.for_seconds) == (0.95, 30)
    assert AuditEntry.objects.filter(action="admin.change",
                                     target=f"cluster_app.alertrule {rule.pk}").exists()
    assert admin_client.get("/admin/cluster_app/alertrule/add/").status_code == 403
    assert admin_client.get(
        f"/admin/cluster_app/alertrule/{rule.pk}/delete/").status_code == 403


@pytest.mark.parametrize(("fields", "error"), [
    ({"kind": "webhook", "url": ""}, "This channel needs a URL."),
    ({"kind": "ntfy", "url": "ftp://example.com/topic"}, "Only http:// and https:// URLs."),
    ({"kind": "email", "recipients": ""}, "An email channel needs an address."),
])
def test_a_channel_needs_where_to_send(admin_client, fields, error):
    response = admin_client.post("/admin/cluster_app/alertchannel/add/", {
        "name": "x", "url": "", "recipients": "", "enabled": "on", **fields})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not AlertChannel.objects.exists()


def test_a_channels_page_has_a_send_test_button(admin_client,
                                                django_capture_on_commit_callbacks):
    hook = AlertChannel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/")
    page = admin_client.get(f"/admin/cluster_app/alertchannel/{hook.pk}/change/")
    send = f'action="/admin/cluster_app/alertchannel/{hook.pk}/send-test/"'
    assert send in page.content.decode() and ">Send test</button>" in page.content.decode()
    assert admin_client.get(f"/admin/cluster_app/alertchannel/{hook.pk}/send-test/"
                            ).status_code == 405  # a change: POST only
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(f"/admin/cluster_app/alertchannel/{hook.pk}/send-test/",
                                     follow=True)
    assert response.redirect_chain[-1][0] == "/admin/cluster_app/alertdelivery/"
    assert "Test notice queued to 1 channel(s)" in response.content.decode()
    assert list(AlertDelivery.objects.values_list("channel__name", "event")) == [("hook", "test")]
    assert len(callbacks) == 1


def test_send_test_needs_an_admin(django_user_model):
    hook = AlertChannel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/")
    client = Client()
    client.force_login(django_user_model.objects.create_user("bob", password="bob-password-1"))
    response = client.post(f"/admin/cluster_app/alertchannel/{hook.pk}/send-test/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not AlertDelivery.objects.exists()
