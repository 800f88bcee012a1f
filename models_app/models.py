from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

# Like Django's slugs, plus dots: the guide's names are `llama-3.2-1b`, `qwen2.5-coder-32b`.
SLUG = RegexValidator(r"^[a-z0-9][a-z0-9.\-]*$", "Use lower-case letters, digits, dots and dashes.")


class LlmModel(models.Model):
    """A model the cluster can run: its Hugging Face repo, exo id, sizes and the guide's verdict."""

    class Tier(models.TextChoices):
        ESSENTIAL = "essential", "Essential"
        OPTIONAL = "optional", "Optional"
        NOT_RECOMMENDED = "not_recommended", "Not recommended"

    class TensorParallel(models.TextChoices):
        REQUIRED = "required", "Required"
        OPTIONAL = "optional", "Optional (faster with it)"
        NO = "no", "Not needed"

    class Source(models.TextChoices):
        GUIDE = "guide", "Cluster guide"
        HUB = "hub", "Hugging Face"
        EXO = "exo", "exo catalogue"

    ROLES = ["coding", "research", "content", "testing", "fast fallback", "instant"]

    slug = models.CharField(
        max_length=80, unique=True, validators=[SLUG],
        help_text="Short name used in URLs and requests, e.g. deepseek-v3-4bit",
    )
    display_name = models.CharField(max_length=120)
    repo_id = models.CharField(max_length=200, unique=True, help_text="Hugging Face repo id")
    exo_model_id = models.CharField(max_length=200, blank=True, help_text="exo's id for it")
    aliases = models.JSONField(default=list, blank=True, help_text="Other names it answers to")
    parameter_count = models.BigIntegerField(null=True, blank=True)
    quantization_bits = models.PositiveSmallIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(validators=[MinValueValidator(0)])
    n_layers = models.PositiveIntegerField(null=True, blank=True)
    hidden_size = models.PositiveIntegerField(null=True, blank=True)
    num_attention_heads = models.PositiveIntegerField(null=True, blank=True)
    num_key_value_heads = models.PositiveIntegerField(null=True, blank=True)
    head_dim = models.PositiveIntegerField(null=True, blank=True)
    kv_latent_dim = models.PositiveIntegerField(
        null=True, blank=True, help_text="Compressed KV width per layer (DeepSeek's MLA)"
    )
    context_length = models.PositiveIntegerField(null=True, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.OPTIONAL)
    tier_reason = models.TextField(blank=True)
    roles = models.JSONField(default=list, blank=True)
    tensor_parallel = models.CharField(
        max_length=10, choices=TensorParallel.choices, default=TensorParallel.NO
    )
    expected_tokens_per_second = models.FloatField(null=True, blank=True)
    first_token_seconds = models.CharField(max_length=20, blank=True, help_text='e.g. "2-3"')
    download_minutes = models.CharField(max_length=20, blank=True, help_text='e.g. "30-60"')
    gated = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HUB)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier", "-size_bytes"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.display_name

    @property
    def exo_id(self) -> str:
        """exo's id for the model: its own when set, else the repo id (exo's ids are repo ids)."""
        return self.exo_model_id or self.repo_id

    @property
    def names(self) -> list[str]:
        """Every name a request may use for this model."""
        return [self.slug, self.repo_id, *([self.exo_model_id] if self.exo_model_id else []),
                *self.aliases]


class RouteRule(models.Model):
    """The guide's Model Router: for a task, the models to try in order, first ready one wins."""

    task = models.SlugField(max_length=40, unique=True)
    description = models.CharField(max_length=200, blank=True)
    slugs = models.JSONField(default=list, help_text="Catalogue slugs, most preferred first")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["task"]

    def __str__(self) -> str:
        return f"{self.task}: {' → '.join(self.slugs)}"


class NameRoute(models.Model):
    """A model name clients send that the catalogue does not have, sent to a task of the Model
    Router: Claude Code asks for its own `claude-*` names (Sonnet and Opus for its main work,
    Haiku for background work) unless every model variable it reads is set."""

    pattern = models.CharField(max_length=100, unique=True,
                               help_text="A shell-style pattern, any case, e.g. claude-*sonnet*")
    rule = models.ForeignKey(RouteRule, on_delete=models.PROTECT, related_name="name_routes",
                             help_text="The router task whose first ready model answers")
    position = models.PositiveSmallIntegerField(
        default=100, help_text="Patterns are tried from the lowest position; the first match wins")
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pattern"]

    def __str__(self) -> str:
        return f"{self.pattern} → {self.rule.task}"


class CloudPrice(models.Model):
    """What a cloud API would charge for the same tokens, per million."""

    name = models.CharField(max_length=80, unique=True)
    input_usd_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    output_usd_per_million = models.DecimalField(max_digits=10, decimal_places=4)

    class Meta:
        ordering = ["-output_usd_per_million"]

    def __str__(self) -> str:
        return self.name


class CostSettings(models.Model):
    """The cluster's running cost (one row): the guide's ~$0.50 an hour for the Macs and DGX."""

    electricity_usd_per_hour = models.DecimalField(max_digits=8, decimal_places=4,
                                                   default=Decimal("0.50"))

    class Meta:
        verbose_name_plural = "cost settings"

    def __str__(self) -> str:
        return f"${self.electricity_usd_per_hour}/hour"

    @classmethod
    def current(cls) -> CostSettings:
        return cls.objects.first() or cls.objects.create()


class UsageRecord(models.Model):
    """One proxied request: who, which model and route, tokens, speed and outcome."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL)
    token = models.ForeignKey("cluster_app.ApiToken", null=True, blank=True,
                              on_delete=models.SET_NULL)
    api = models.CharField(max_length=10, default="chat", help_text="chat or messages")
    requested_model = models.CharField(max_length=200)
    model_id = models.CharField(max_length=200, help_text="exo's model id")
    slug = models.CharField(max_length=80, blank=True)
    route = models.CharField(max_length=255, blank=True)
    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, default="ok", help_text=(
        "ok; failed (at exo: an error, or the answer broken off); cancelled (by the client); "
        "error (refused by the panel or exo)"))
    http_status = models.PositiveSmallIntegerField(default=200)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.slug or self.model_id} {self.status}"


class Benchmark(models.Model):
    """One model benchmark (the `model.bench` job): a ready instance as it is, or every
    placement exo offers for the model, each over the same matrix of prompt and answer
    lengths."""

    class Mode(models.TextChoices):
        INSTANCE = "instance", "the ready instance as it is"
        PLACEMENTS = "placements", "every placement exo offers"

    job = models.OneToOneField("cluster_app.Job", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="benchmark")
    model_id = models.CharField(max_length=200, help_text="exo's model id")
    slug = models.CharField(max_length=80, blank=True)
    mode = models.CharField(max_length=12, choices=Mode.choices)
    prompt_lengths = models.JSONField(default=list)
    generation_lengths = models.JSONField(default=list)
    runs_per_cell = models.PositiveSmallIntegerField(default=3)
    # The guide's figure and the price as they were when it ran, so old results keep their
    # verdicts and costs.
    expected_tokens_per_second = models.FloatField(null=True, blank=True)
    electricity_usd_per_kwh = models.DecimalField(max_digits=8, decimal_places=4)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.slug or self.model_id} benchmark {self.created_at:%Y-%m-%d %H:%M}"


class BenchmarkRun(models.Model):
    """One request of a benchmark: where it ran, what was asked and what exo measured."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="runs")
    sharding = models.CharField(max_length=12)
    instance_meta = models.CharField(max_length=12)
    node_count = models.PositiveSmallIntegerField()
    node_names = models.JSONField(default=list, blank=True)
    prompt_length = models.PositiveIntegerField(help_text="Prompt tokens asked for")
    generation_length = models.PositiveIntegerField(help_text="max_tokens")
    run = models.PositiveSmallIntegerField()
    prompt_tokens = models.PositiveIntegerField()
    generation_tokens = models.PositiveIntegerField()
    prefill_tps = models.FloatField()
    generation_tps = models.FloatField()
    first_token_seconds = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(default=0)
    energy_joules = models.FloatField(null=True, blank=True)
    joules_per_token = models.FloatField(null=True, blank=True)
    cost_per_million_usd = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return (f"{self.sharding}/{self.instance_meta}/{self.node_count} "
                f"{self.prompt_length}+{self.generation_length} #{self.run}")


class Conversation(models.Model):
    """A user's saved chat in the Playground: its defaults for the next turn and a tree of
    messages, of which the path from the root to `current_leaf` is the thread shown."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    title_set = models.BooleanField(default=False, help_text="Renamed: no longer set automatically")
    pinned = models.BooleanField(default=False)
    model = models.CharField(max_length=200, blank=True, help_text="Default for the next turn")
    system_prompt = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True,
                                  help_text="temperature, max_tokens for the next turn")
    current_leaf = models.ForeignKey("Message", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-pinned", "-updated_at", "-pk"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    """One turn of a conversation; its siblings (same parent) are the alternatives: an edited
    question, a regenerated answer, or the answers of models compared side by side (`batch`)."""

    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete", "Complete"
        STOPPED = "stopped", "Stopped"
        ERROR = "error", "Error"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="messages")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="children")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    batch = models.CharField(max_length=40, blank=True,
                             help_text="Shared by answers of one Compare send")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    first_token_seconds = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class SystemPreset(models.Model):
    """A system prompt to pick from: seeded ones (no owner) for everyone, and a user's own."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.CASCADE, related_name="system_presets")
    name = models.CharField(max_length=80)
    prompt = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
