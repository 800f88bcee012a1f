"""Conversation reads, always in the caller's scope: another user's conversation is not found."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from arthur_panel.errors import get_or_404
from models_app.conversations.tree import Node, thread
from models_app.models import Conversation, Message, SystemPreset


def conversations_of(user: Any, *, q: str = "") -> QuerySet[Conversation]:
    """`user`'s conversations, pinned first, then the most recently updated; with `q`, those
    whose title or any message contains it (any case)."""
    found = Conversation.objects.filter(owner=user)
    if q := q.strip():
        hit = Message.objects.filter(conversation=OuterRef("pk"), content__icontains=q)
        found = found.filter(Q(title__icontains=q) | Exists(hit))
    return found


def conversation_of(user: Any, conversation_id: Any) -> Conversation:
    """`user`'s conversation `conversation_id`, or NotFound (also when it is someone else's)."""
    return get_or_404(conversations_of(user), "Conversation", pk=conversation_id)


def messages_of(conversation: Conversation) -> list[Message]:
    """Every message of the tree, oldest first."""
    return list(conversation.messages.all())


def thread_of(conversation: Conversation, messages: list[Message]) -> list[Message]:
    """The visible thread: the messages from the root to the conversation's current leaf."""
    by_id = {message.pk: message for message in messages}
    ids = thread((Node(m.pk, m.parent_id) for m in messages), conversation.current_leaf_id)
    return [by_id[pk] for pk in ids]


def presets_for(user: Any) -> QuerySet[SystemPreset]:
    """The seeded presets, then `user`'s own, each by name."""
    return SystemPreset.objects.filter(Q(owner__isnull=True) | Q(owner=user)).order_by(
        F("owner").asc(nulls_first=True), "name")


def own_presets(user: Any) -> QuerySet[SystemPreset]:
    """`user`'s own presets: the ones they may delete."""
    return SystemPreset.objects.filter(owner=user)
