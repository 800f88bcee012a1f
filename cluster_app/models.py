from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from arthur_panel.celery import Lane, lane_queue
from cluster_app.access.rules import SCOPES as API_SCOPES

LOG_TAIL_LINES = 200
# A whole line of the master's start output: exo's own log-line prefix (INFO only) or none, as a
# start script's echo prints it, then the command.
BOOTSTRAP_PATTERN = (r"(?i)(?:\[ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \| INFO +"
                     r"\| [\w.:<>-]+ \] )?bootstrap command:\s*(?P<command>\S.*?)\s*")


class NodeQuerySet(models.QuerySet["Node"]):
    def live(self) -> NodeQuerySet:
        """Nodes exo reports now (its live figures for them are current)."""
        return self.filter(status__in=Node.LIVE)


INTERFACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}")


def validate_interface_names(value: Any) -> None:
    """A list of interface names as the OS spells them (`bridge0`, `en2`, `lo`)."""
    if not isinstance(value, list) or not all(
            isinstance(name, str) and INTERFACE_NAME.fullmatch(name) for name in value):
        raise ValidationError('A list of interface names, e.g. ["bridge0", "en2"].',
                              code="invalid_interfaces")


def _all_scopes() -> list[str]:
    # Tokens made before scopes existed did all their user could; new ones say what they may.
    return list(API_SCOPES)

class Node(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online"
        DEGRADED = "degraded"
        OFFLINE = "offline"
        UNMONITORED = "unmonitored", "not an exo node"

    # Reported by exo now, whole (online) or in part (degraded: no RDMA link, say).
    LIVE = (Status.ONLINE, Status.DEGRADED)

    class Role(models.TextChoices):
        MASTER = "master", "exo master"
        WORKER = "worker", "exo worker"
        STANDALONE = "standalone", "standalone"

    name = models.SlugField(max_length=40, unique=True, help_text="Lower-case name used in URLs")
    display_name = models.CharField(max_length=60)
    hostname = models.CharField(max_length=255, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.WORKER)
    hardware = models.CharField(max_length=120, blank=True)
    ram_bytes = models.BigIntegerField(default=0)
    in_exo_cluster = models.BooleanField(default=True)
    purpose = models.CharField(max_length=255, blank=True)
    expects_rdma = models.BooleanField(
        default=True, help_text="Joined to the other exo nodes by Thunderbolt RDMA"
    )
    models_dir = models.CharField(
        max_length=500, blank=True,
        help_text="Where exo finds models on this node (EXO_DEFAULT_MODELS_DIR); "
                  "blank: MODELS_DIR/<name> on the node's worker",
    )

    # How exo runs on this node: set by admins only (Django admin), never from a request.
    exo_start_command = models.JSONField(
        default=list, blank=True,
        help_text='Argument list run without a shell on the node\'s worker, e.g. '
                  '["/Users/arthur/start-exo-cluster.sh"]; a leading ~/ is expanded',
    )
    exo_join_with_bootstrap = models.BooleanField(
        default=False,
        help_text="Start with the bootstrap command the master prints when it starts "
                  "(used when the start command is empty)",
    )
    exo_bootstrap_pattern = models.CharField(
        max_length=255, blank=True, default=BOOTSTRAP_PATTERN,
        help_text="On the master: a regular expression that must match a whole line of its "
                  "start job's output, whose 'command' group captures the command other nodes "
                  "join with",
    )
    exo_join_programs = models.JSONField(
        default=list, blank=True,
        help_text='On a node that joins with the bootstrap command: the argument-list prefixes '
                  'that command must start with to be run here, e.g. [["/opt/homebrew/bin/exo"]]; '
                  'empty: never run it',
    )
    exo_environment = models.JSONField(
        default=dict, blank=True,
        help_text='Extra environment for exo, e.g. {"EXO_DEFAULT_MODELS_DIR": "...", '
                  '"HF_ENDPOINT": "..."}',
    )
    exo_pid_file = models.CharField(
        max_length=500, default="~/.exo/exo.pid", help_text="exo's PID lock on the node"
    )
    exo_log_files = models.JSONField(
        default=list, blank=True,
        help_text="Log files the follower tails on the node, besides the start output",
    )
    exo_start_timeout = models.PositiveIntegerField(
        default=180, help_text="Seconds for exo to answer with this node in the topology"
    )
    exo_stop_grace = models.PositiveIntegerField(
        default=20, help_text="Seconds between SIGINT and SIGTERM when stopping exo"
    )
    rdma_interface = models.CharField(
        max_length=40, blank=True, help_text="RDMA device for ibv_devinfo -d, e.g. rdma_en4"
    )
    # How a node exo does not report is watched: its own worker reads its GPUs.
    monitor_gpus = models.BooleanField(
        default=False,
        help_text="Its worker reads its NVIDIA GPUs through NVML every poll (a node exo does "
                  "not report, such as GAMMA)",
    )
    gpu_probe_command = models.JSONField(
        default=list, blank=True,
        help_text='Argument list run without a shell on the node\'s worker that prints the GPU '
                  'reading as JSON; blank: the worker\'s own Python runs '
                  '"-m cluster_app.nodes.nvml --json"',
    )
    network_interfaces = models.JSONField(
        default=list, blank=True, validators=[validate_interface_names],
        help_text='Network interfaces whose throughput the node\'s worker charts, e.g. '
                  '["bridge0", "en2"] (the Thunderbolt bridge and RDMA ports); blank: every '
                  'interface but loopback that has carried traffic',
    )

    # Live fields, written by the cluster poll.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OFFLINE)
    status_reason = models.CharField(max_length=255, blank=True)
    exo_node_id = models.CharField(max_length=120, blank=True,
                                   help_text="Changes at every exo start")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    ram_total = models.BigIntegerField(null=True, blank=True)
    ram_used = models.BigIntegerField(null=True, blank=True)
    swap_used = models.BigIntegerField(null=True, blank=True)
    disk_total = models.BigIntegerField(null=True, blank=True)
    disk_free = models.BigIntegerField(null=True, blank=True)
    gpu_usage = models.FloatField(null=True, blank=True, help_text="0 to 1")
    temperature = models.FloatField(null=True, blank=True, help_text="GPU, degrees C")
    power = models.FloatField(null=True, blank=True, help_text="System power, W")
    rdma_enabled = models.BooleanField(null=True, blank=True)
    links = models.JSONField(default=list, blank=True)
    # A digest of `links` (cluster_app/nodes/changes.py), so that the poll rewrites them only when
    # they change: in a mesh of 32 nodes they are most of what it would write.
    links_digest = models.CharField(max_length=32, blank=True, editable=False)
    # The last GPU reading of a node that reads its GPUs (see cluster_app/nodes/nvml.py).
    gpu_reading = models.JSONField(default=dict, blank=True)
    # The worker's last network reading: {"at", "interfaces": {name: {"rx", "tx"}}, "missing"}.
    network = models.JSONField(default=dict, blank=True)
    # The exo process, as the node's worker last saw it.
    exo_pid = models.IntegerField(null=True, blank=True)
    exo_started_at = models.DateTimeField(null=True, blank=True)
    exo_version = models.CharField(max_length=40, blank=True)
    exo_checked_at = models.DateTimeField(null=True, blank=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["-in_exo_cluster", "-ram_bytes", "name"]
        # The permissions roles are made of (cluster_app/access/rules.py names them).
        permissions = [("operate_exo", "Can start, stop and restart exo on the nodes"),
                       ("run_jobs", "Can run and control jobs and edit the catalogue"),
                       ("administer", "Can change node settings, other users' keys and users")]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        if self.monitor_gpus and self.in_exo_cluster:
            raise ValidationError({"monitor_gpus": "exo reports this node's figures; only a "
                                                   "node outside the exo cluster reads its GPUs."})

    @property
    def reads_gpus(self) -> bool:
        """Watched through its own worker's GPU readings rather than exo's state."""
        return self.monitor_gpus and not self.in_exo_cluster

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE

    @property
    def queue(self) -> str:
        """The queue of this node's bulk workers (pings, downloads, benchmarks)."""
        return lane_queue(Lane.BULK, self.name)

    @property
    def control_queue(self) -> str:
        """The queue of this node's control workers (exo start and stop, health probes)."""
        return lane_queue(Lane.CONTROL, self.name)

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else Path(settings.MODELS_DIR) / self.name

    def model_path(self, repo_id: str) -> Path:
        """Where exo looks for a model on this node: `<models dir>/<org>--<name>/`."""
        return self.models_path / repo_id.replace("/", "--")

    @property
    def console_log_path(self) -> Path:
        """Where the start command's output goes (the guide's /tmp/exo-alpha.log)."""
        return Path(settings.VAR_DIR) / "exo" / f"{self.name}.log"


class NodeMemorySample(models.Model):
    """Memory in use over time, one row per node, tier and time bucket (the peak in it)."""

    # Rows are found by node through the unique constraint's index, which starts with it: an
    # index of its own would only slow the poll's writes.
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="memory_samples",
                             db_index=False)
    tier = models.CharField(max_length=8)
    bucket = models.DateTimeField()
    ram_used = models.BigIntegerField()
    ram_total = models.BigIntegerField()

    class Meta:
        ordering = ["bucket"]
        constraints = [
            models.UniqueConstraint(fields=["node", "tier", "bucket"], name="one_sample_per_bucket")
        ]
        # Every poll drops the buckets that left their tier's window (poll.record_memory).
        indexes = [models.Index(fields=["tier", "bucket"], name="memory_sample_tier_bucket")]

    def __str__(self) -> str:
        return f"{self.node} {self.tier} {self.bucket:%H:%M:%S}"


class NodeMetricSample(models.Model):
    """One performance series of a node over time (GPU use, power, swap, an interface's bytes/s
    in or out), one row per node, tier, series and time bucket: the peak in it."""

    # As NodeMemorySample.node: the unique constraint's index finds rows by node.
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="metric_samples",
                             db_index=False)
    tier = models.CharField(max_length=8)
    series = models.CharField(max_length=64)
    bucket = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        ordering = ["bucket"]
        constraints = [
            models.UniqueConstraint(fields=["node", "tier", "series", "bucket"],
                                    name="one_metric_sample_per_bucket")
        ]
        indexes = [models.Index(fields=["tier", "bucket"], name="metric_sample_tier_bucket")]

    def __str__(self) -> str:
        return f"{self.node} {self.tier} {self.series} {self.bucket:%H:%M:%S}"


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PAUSED = "paused"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Control(models.TextChoices):
        NONE = "", "none"
        CANCEL = "cancel"
        PAUSE = "pause"

    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    ACTIVE = (State.QUEUED, State.RUNNING, State.PAUSED)

    kind = models.CharField(max_length=40)
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.PROTECT)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    control = models.CharField(max_length=8, choices=Control.choices, default="", blank=True)
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1")
    done = models.BigIntegerField(default=0, help_text="Units done (bytes for downloads)")
    total = models.BigIntegerField(null=True, blank=True)
    unit = models.CharField(max_length=12, default="bytes")
    speed = models.FloatField(null=True, blank=True, help_text="Smoothed units per second")
    eta_seconds = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=255, blank=True)
    log_tail = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="Kind-specific live figures")
    # Jobs with the same key cannot be active at once (a second click returns the first job).
    dedupe_key = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    # Why it failed, for scripts: a refusal's code, `timeout`, `command_failed`, or `internal`
    # (a bug: `error` then holds only an incident reference to the server log).
    error_code = models.CharField(max_length=40, blank=True)
    result = models.JSONField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "kind"])]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "dedupe_key"], name="one_active_job_per_key",
                condition=models.Q(state__in=["queued", "running", "paused"])
                & ~models.Q(dedupe_key=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED


def _scope_list(value: object) -> None:
    if not isinstance(value, list) or not value or any(
            scope not in API_SCOPES for scope in value):
        raise ValidationError(f"Scopes must be a non-empty list of {', '.join(API_SCOPES)}.")


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self) -> ApiTokenQuerySet:
        """Tokens that authenticate: not revoked, not expired, their user active."""
        unexpired = models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        return self.filter(unexpired, revoked_at__isnull=True, user__is_active=True)

    def get_for_secret(self, secret: str) -> ApiToken | None:
        # get(), not first(): the digest is unique, and no ORDER BY to build on every request.
        try:
            return self.live().select_related("user").get(digest=ApiToken.digest_of(secret))
        except ApiToken.DoesNotExist:
            return None


class ApiToken(models.Model):
    """A script's credential (an API key). Only the SHA-256 digest is stored; the secret is
    shown once. Its scopes narrow what its user's role allows; a revoked key stays listed."""

    PREFIX = "arthur_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=80, blank=True)
    note = models.TextField(max_length=2000, blank=True)
    scopes = models.JSONField(default=_all_scopes, validators=[_scope_list],
                              help_text="Any of chat, read, operate, admin")
    allowed_models = models.JSONField(
        default=list, blank=True,
        help_text="exo model ids a chat key may use; empty: every model")
    expires_at = models.DateTimeField(null=True, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(
        max_length=16, editable=False, help_text="First characters, to tell tokens apart"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Limits of this key alone; empty: only its user's limits (settings RATE_*) apply.
    chat_requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)])
    chat_tokens_per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)])
    api_requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)])
    max_streams = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Chat requests this key may have running at once")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.hint}… ({self.user})"

    @property
    def state(self) -> str:
        """'revoked', 'expired' or 'active'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expired(timezone.now()):
            return "expired"
        return "active"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @staticmethod
    def digest_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: Any, name: str = "", **fields: Any) -> tuple[ApiToken, str]:
        """Create a token for `user` (every scope unless `scopes` is given; other fields as
        given); return it with the secret, which is not stored."""
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls(user=user, name=name, digest=cls.digest_of(secret),
                    hint=secret[: len(cls.PREFIX) + 6], **fields)
        token.full_clean()
        token.save()
        return token, secret


class HealthResult(models.Model):
    """The latest outcome of one check, for the cluster or for one node."""

    class Status(models.TextChoices):
        PASS = "pass"
        WARN = "warn"
        FAIL = "fail"
        UNAVAILABLE = "unavailable", "not available"

    name = models.CharField(max_length=40, help_text="Which check")
    scope = models.CharField(max_length=40, help_text="'cluster' or a node name")
    status = models.CharField(max_length=12, choices=Status.choices)
    summary = models.CharField(max_length=255)
    evidence = models.JSONField(default=dict, blank=True)
    hint = models.CharField(max_length=255, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "scope"]
        constraints = [
            models.UniqueConstraint(fields=["name", "scope"], name="one_result_per_check_scope")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.scope}: {self.status}"


class LinkBenchmark(models.Model):
    """One all_sum probe across ranks: latency at small sizes, bandwidth at large ones."""

    backend = models.CharField(max_length=12, help_text="jaccl or ring")
    hosts = models.JSONField(default=list, help_text="Where each rank ran")
    ranks = models.PositiveIntegerField(default=2)
    latency_us = models.FloatField(null=True, blank=True, help_text="Median, smallest size")
    bandwidth_gbps = models.FloatField(null=True, blank=True, help_text="Best, large sizes")
    points = models.JSONField(default=list, help_text="[{bytes, seconds, gbps}, ...] by size")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.backend} link benchmark {self.created_at:%Y-%m-%d %H:%M}"


class AuditEntry(models.Model):
    """One state-changing action: who (user, token), when, from where, what, and how it ended.
    Written in the transaction of the change it records (`cluster_app.audit.services`)."""

    class Outcome(models.TextChoices):
        OK = "ok"
        REFUSED = "refused"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Kept when the user is deleted: the name says who it was.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    token_id = models.UUIDField(null=True, blank=True)
    token_hint = models.CharField(max_length=16, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"


class AlertRule(models.Model):
    """One alert rule: the condition its `key` names (cluster_app/alerts/conditions.py), with
    the threshold and hold ("for") an admin may change. Seeded by a data migration."""

    class Severity(models.TextChoices):
        WARNING = "warning"
        CRITICAL = "critical"

    key = models.SlugField(max_length=40, unique=True, help_text="Which condition it checks")
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices,
                                default=Severity.WARNING)
    threshold = models.FloatField(
        null=True, blank=True,
        help_text="The rule's limit, in the unit its description names; blank: the rule's own "
                  "(or its setting's)")
    for_seconds = models.PositiveIntegerField(
        default=0, help_text="How long the condition must hold before the alert fires")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """One episode of a rule holding for one subject (a node, a model, a pair): pending while
    its rule's "for" runs, firing, then resolved. At most one active per rule and subject."""

    class State(models.TextChoices):
        PENDING = "pending"
        FIRING = "firing"
        RESOLVED = "resolved"

    ACTIVE = (State.PENDING, State.FIRING)

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    subject = models.CharField(max_length=200, help_text="What it is about: beta, alpha-beta")
    labels = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    severity = models.CharField(max_length=10, choices=AlertRule.Severity.choices)
    summary = models.CharField(max_length=500)
    hint = models.TextField(blank=True)
    pending_since = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Whether the firing notice went out (not while silenced): only then is "resolved" sent.
    notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-pending_since", "-id"]
        indexes = [models.Index(fields=["state", "rule"])]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"], name="one_active_alert_per_rule_subject",
                condition=models.Q(state__in=["pending", "firing"]))
        ]

    def __str__(self) -> str:
        return f"{self.rule.key} {self.subject} ({self.state})"


class AlertSilence(models.Model):
    """No notices for a rule and subject until `until` (the alert still shows, as silenced)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="silences")
    subject = models.CharField(max_length=200)
    until = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-until"]
        constraints = [models.UniqueConstraint(fields=["rule", "subject"],
                                               name="one_silence_per_rule_subject")]

    def __str__(self) -> str:
        return f"{self.rule.key} {self.subject} until {self.until:%Y-%m-%d %H:%M}"


class AlertChannel(models.Model):
    """Where notices go. Set by admins only (Django admin), never from a request."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "generic webhook (JSON)"
        NTFY = "ntfy", "ntfy topic"
        SLACK = "slack", "Slack-compatible webhook"
        EMAIL = "email", "email"

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.URLField(max_length=500, blank=True,
                          help_text="Webhook, Slack webhook or ntfy topic URL "
                                    "(https://ntfy.sh/my-topic)")
    recipients = models.CharField(max_length=500, blank=True,
                                  help_text="Email: addresses, comma-separated")
    enabled = models.BooleanField(default=True)
    send_resolved = models.BooleanField(default=True, help_text="Also send the resolved notice")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.EMAIL:
            if not self.recipient_list:
                raise ValidationError({"recipients": "An email channel needs an address."})
        elif not self.url:
            raise ValidationError({"url": "This channel needs a URL."})
        elif not self.url.startswith(("http://", "https://")):
            raise ValidationError({"url": "Only http:// and https:// URLs."})

    @property
    def recipient_list(self) -> list[str]:
        return [address.strip() for address in self.recipients.split(",") if address.strip()]


class AlertDelivery(models.Model):
    """One notice to one channel: its attempts, and how the last one went."""

    class Event(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"
        TEST = "test"

    class Status(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        SENT = "sent"
        FAILED = "failed"

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.channel} ({self.status})"
