from __future__ import annotations

from rest_framework import serializers

from models_app.models import LlmModel

READ_ONLY = ["slug", "repo_id", "source", "created_at", "updated_at", "size_gb"]


class LlmModelSerializer(serializers.ModelSerializer):
    size_gb = serializers.SerializerMethodField(help_text="Size the guide's way (binary GB)")
    roles = serializers.ListField(child=serializers.ChoiceField(LlmModel.ROLES), required=False)
    aliases = serializers.ListField(child=serializers.CharField(max_length=80), required=False)

    class Meta:
        model = LlmModel
        fields = ["slug", "display_name", "repo_id", "exo_model_id", "aliases", "parameter_count",
                  "quantization_bits", "size_bytes", "size_gb", "n_layers", "hidden_size",
                  "num_attention_heads", "num_key_value_heads", "head_dim", "kv_latent_dim",
                  "context_length", "tier", "tier_reason", "roles", "tensor_parallel",
                  "expected_tokens_per_second", "first_token_seconds", "download_minutes", "gated",
                  "source", "notes", "created_at", "updated_at"]
        read_only_fields = READ_ONLY
        ref_name = "Model"

    def get_size_gb(self, model: LlmModel) -> float:
        return round(model.size_bytes / 1024**3, 2)


class ModelAddSerializer(serializers.Serializer):
    repo_id = serializers.CharField(max_length=200)

    class Meta:
        ref_name = "ModelAdd"
