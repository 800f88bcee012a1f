from __future__ import annotations

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
    def names(self) -> list[str]:
        """Every name a request may use for this model."""
        return [self.slug, self.repo_id, *([self.exo_model_id] if self.exo_model_id else []),
                *self.aliases]
