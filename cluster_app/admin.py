from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from cluster_app.account.lockouts import accounts_unlock, is_locked, recent_failures
from cluster_app.alerts.services import channels_test
from cluster_app.audit.admin import AuditedAdmin
from cluster_app.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    AlertSilence,
    ApiToken,
    AuditEntry,
    HealthResult,
    Job,
    LinkBenchmark,
    Node,
    NodeMemorySample,
    NodeMetricSample,
)

User = get_user_model()


@admin.register(Node)
class NodeAdmin(AuditedAdmin):
    list_display = ["display_name", "name", "hostname", "role", "status", "status_reason",
                    "last_seen_at", "in_exo_cluster"]
    readonly_fields = ["status", "status_reason", "exo_node_id", "last_seen_at", "ram_total",
                       "ram_used", "swap_used", "disk_total", "disk_free", "gpu_usage",
                       "temperature", "power", "rdma_enabled", "links", "gpu_reading", "exo_pid",
                       "exo_started_at", "exo_version", "exo_checked_at", "network"]
    search_fields = ["name", "display_name", "hostname"]


@admin.register(NodeMemorySample)
class NodeMemorySampleAdmin(AuditedAdmin):
    list_display = ["node", "tier", "bucket", "ram_used", "ram_total"]
    list_filter = ["node", "tier"]


@admin.register(NodeMetricSample)
class NodeMetricSampleAdmin(AuditedAdmin):
    list_display = ["node", "tier", "series", "bucket", "value"]
    list_filter = ["node", "tier", "series"]


@admin.register(Job)
class JobAdmin(AuditedAdmin):
    list_display = ["id", "kind", "node", "state", "progress", "message", "created_at"]
    list_filter = ["state", "kind", "node"]
    readonly_fields = [field.name for field in Job._meta.fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Keys are made and revoked on the Keys page (an admin sees everyone's there).
    list_display = ["hint", "user", "name", "scopes", "expires_at", "last_used_at",
                    "last_used_from", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "hint", "user__username"]
    readonly_fields = ["hint", "digest", "scopes", "allowed_models", "created_at",
                       "last_used_at", "last_used_from", "revoked_at"]
    fields = ["user", "name", "note", "expires_at", *readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A secret can only be shown once, at creation: `manage.py issue_token` does that.
        return False


@admin.register(HealthResult)
class HealthResultAdmin(AuditedAdmin):
    list_display = ["name", "scope", "status", "summary", "checked_at"]
    list_filter = ["status", "name", "scope"]


@admin.register(LinkBenchmark)
class LinkBenchmarkAdmin(AuditedAdmin):
    list_display = ["created_at", "backend", "ranks", "latency_us", "bandwidth_gbps"]
    readonly_fields = [field.name for field in LinkBenchmark._meta.fields]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the actions it records, and pruned by age."""

    list_display = ["created_at", "username", "token_hint", "address", "action", "target",
                    "outcome"]
    list_filter = ["outcome", "action"]
    search_fields = ["username", "action", "target"]
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(AuditedAdmin):
    """The seeded rules: thresholds, "for" and on/off are editable; the set is the code's."""

    list_display = ["name", "key", "severity", "threshold", "for_seconds", "enabled"]
    list_editable = ["threshold", "for_seconds", "enabled"]
    readonly_fields = ["key"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # turn a rule off instead: its condition is the code's


@admin.register(AlertChannel)
class AlertChannelAdmin(AuditedAdmin):
    list_display = ["name", "kind", "url", "recipients", "enabled", "send_resolved"]
    actions = ["send_test"]
    # A URL typed without a scheme is taken as https (Django 6's default, said now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # A "Send test" button on each channel's page, beside the list's action for several.
    change_form_template = "admin/cluster_app/alertchannel/change_form.html"

    @admin.action(description="Send a test notice")
    def send_test(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        sent = channels_test(channels=list(queryset), user=request.user)
        self.message_user(request, f"Test notice queued to {len(sent)} channel(s): see "
                                   "Alert deliveries for how it went.")

    def get_urls(self) -> list[Any]:
        send = self.admin_site.admin_view(require_POST(self.send_test_view))
        return [path("<int:channel_id>/send-test/", send,
                     name="cluster_app_alertchannel_send_test"), *super().get_urls()]

    def send_test_view(self, request: HttpRequest, channel_id: int) -> HttpResponseRedirect:
        channel = self.get_object(request, str(channel_id))
        if channel is None or not self.has_change_permission(request, channel):
            raise PermissionDenied
        self.send_test(request, AlertChannel.objects.filter(pk=channel.pk))
        return HttpResponseRedirect(reverse("admin:cluster_app_alertdelivery_changelist"))


class RecordAdmin(admin.ModelAdmin):
    """Records the panel writes (alerts, deliveries): listed and read, never added or edited."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(RecordAdmin):
    list_display = ["created_at", "channel", "event", "alert", "status", "attempts",
                    "last_error", "sent_at"]
    list_filter = ["status", "event", "channel"]


@admin.register(Alert)
class AlertAdmin(RecordAdmin):
    list_display = ["pending_since", "rule", "subject", "severity", "state", "fired_at",
                    "resolved_at", "notified"]
    list_filter = ["state", "severity", "rule"]


@admin.register(AlertSilence)
class AlertSilenceAdmin(AuditedAdmin):
    list_display = ["rule", "subject", "until", "created_by", "reason"]


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    """Users, with the login throttling of each account (failures, locked) and an unlock."""

    list_display = ["username", "email", "is_staff", "is_active", "login_failures", "locked_out"]
    actions = ["unlock"]

    @admin.display(description="failed logins")
    def login_failures(self, user: Any) -> int:
        return recent_failures(user.get_username())

    @admin.display(description="locked out", boolean=True)
    def locked_out(self, user: Any) -> bool:
        return is_locked(user.get_username())

    @admin.action(description="Unlock (forget their failed logins)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = accounts_unlock(users=queryset, by=request.user)
        self.message_user(request, f"Unlocked: {count} throttling record(s) removed.")


@admin.register(Group)
class GroupAdmin(AuditedAdmin, DjangoGroupAdmin):
    pass
