"""What the conversations API reads and answers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from models_app.models import Conversation, Message, SystemPreset

# A megabyte answer (the Playground renders one) with room to spare, under the body limit.
MAX_CONTENT = 2_000_000
MAX_REASONING = 1_000_000
MAX_SYSTEM_PROMPT = 20_000
MAX_COUNT = 1_000_000_000
MAX_SECONDS = 1e7


class ParametersSerializer(serializers.Serializer):
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False,
                                         allow_null=True)
    max_tokens = serializers.IntegerField(min_value=1, max_value=settings.CHAT_MAX_TOKENS,
                                          required=False, allow_null=True)

    class Meta:
        ref_name = "ConversationParameters"


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        ref_name = "ConversationMessage"
        fields = ["id", "parent", "role", "content", "reasoning", "model", "batch",
                  "prompt_tokens", "completion_tokens", "first_token_seconds",
                  "tokens_per_second", "duration_seconds", "status", "error", "created_at"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    parameters = ParametersSerializer(read_only=True)

    class Meta:
        model = Conversation
        ref_name = "Conversation"
        fields = ["id", "title", "pinned", "model", "system_prompt", "parameters",
                  "current_leaf", "created_at", "updated_at"]
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    """A conversation with its whole tree and the thread from the root to the current leaf."""

    messages = serializers.SerializerMethodField(help_text="Every message, oldest first")
    thread = serializers.SerializerMethodField(help_text="Ids from the root to the current leaf")

    class Meta(ConversationSerializer.Meta):
        ref_name = "ConversationDetail"
        fields = [*ConversationSerializer.Meta.fields, "messages", "thread"]
        read_only_fields = fields

    @extend_schema_field(MessageSerializer(many=True))
    def get_messages(self, conversation: Conversation) -> Any:
        return MessageSerializer(self.context["messages"], many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_thread(self, conversation: Conversation) -> list[int]:
        return [message.pk for message in self.context["thread"]]


class ConversationPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="conversations matching the search")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConversationSerializer(many=True)

    class Meta:
        ref_name = "ConversationPage"


class ConversationWriteRequest(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                  help_text="Blank: set from the first question")
    pinned = serializers.BooleanField(required=False)
    model = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                  help_text="The model of the next turn")
    system_prompt = serializers.CharField(max_length=MAX_SYSTEM_PROMPT, required=False,
                                          allow_blank=True, trim_whitespace=False)
    parameters = ParametersSerializer(required=False)

    class Meta:
        ref_name = "ConversationCreateRequest"


class ConversationChangeRequest(ConversationWriteRequest):
    current_leaf = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            max_value=2**62,
                                            help_text="The message whose thread is shown")

    class Meta:
        ref_name = "ConversationChangeRequest"


class MessageCreateRequest(serializers.Serializer):
    # The metaclass takes declared fields off the class, so `parent` does not shadow Field's.
    parent = serializers.IntegerField(  # type: ignore[assignment]
        allow_null=True, min_value=1, max_value=2**62,
        help_text="The message answered or followed; null: a first question")
    role = serializers.ChoiceField(Message.Role.values)
    content = serializers.CharField(max_length=MAX_CONTENT, allow_blank=True,
                                    trim_whitespace=False)
    reasoning = serializers.CharField(max_length=MAX_REASONING, required=False,
                                      allow_blank=True, trim_whitespace=False, default="")
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    batch = serializers.CharField(max_length=40, required=False, allow_blank=True, default="",
                                  help_text="The same for the answers of one Compare send")
    prompt_tokens = serializers.IntegerField(min_value=0, max_value=MAX_COUNT, required=False,
                                             allow_null=True, default=None)
    completion_tokens = serializers.IntegerField(min_value=0, max_value=MAX_COUNT,
                                                 required=False, allow_null=True, default=None)
    first_token_seconds = serializers.FloatField(min_value=0, max_value=MAX_SECONDS,
                                                 required=False, allow_null=True, default=None)
    tokens_per_second = serializers.FloatField(min_value=0, max_value=MAX_SECONDS,
                                               required=False, allow_null=True, default=None)
    duration_seconds = serializers.FloatField(min_value=0, max_value=MAX_SECONDS,
                                              required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(Message.Status.values, required=False,
                                     default=Message.Status.COMPLETE)
    error = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    current = serializers.BooleanField(required=False, default=True,
                                       help_text="Make it the current leaf (false: a compared "
                                                 "answer not picked)")

    class Meta:
        ref_name = "ConversationMessageCreateRequest"


class PresetSerializer(serializers.ModelSerializer):
    mine = serializers.SerializerMethodField(help_text="False for the seeded presets")

    class Meta:
        model = SystemPreset
        ref_name = "SystemPreset"
        fields = ["id", "name", "prompt", "mine"]
        read_only_fields = fields

    def get_mine(self, preset: SystemPreset) -> bool:
        return preset.owner_id is not None


class PresetCreateRequest(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    prompt = serializers.CharField(max_length=MAX_SYSTEM_PROMPT, trim_whitespace=False)

    class Meta:
        ref_name = "SystemPresetCreateRequest"
