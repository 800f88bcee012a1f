"""Conversation writes: create, change, delete, add a message, presets. Each checks what the
database cannot: a message's parent is in the same conversation and the roles alternate."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from arthur_panel.exceptions import DomainError
from models_app.conversations.tree import title_from
from models_app.models import Conversation, Message, SystemPreset

SETTINGS = ("model", "system_prompt", "parameters")


def conversation_create(*, owner: Any, title: str = "", pinned: bool = False, model: str = "",
                        system_prompt: str = "",
                        parameters: dict[str, Any] | None = None) -> Conversation:
    conversation = Conversation(owner=owner, title=title.strip(), title_set=bool(title.strip()),
                                pinned=pinned, model=model, system_prompt=system_prompt,
                                parameters=parameters or {})
    conversation.full_clean()
    conversation.save()
    return conversation


def _message_in(conversation: Conversation, message_id: int | None, field: str) -> Message | None:
    if message_id is None:
        return None
    found = conversation.messages.filter(pk=message_id).first()
    if found is None:
        raise DomainError(f"{field}: message {message_id} is not in this conversation.",
                          code="invalid_message")
    return found


@transaction.atomic
def conversation_update(*, conversation: Conversation, changes: dict[str, Any]) -> Conversation:
    """Apply `changes` (title, pinned, model, system_prompt, parameters, current_leaf); a blank
    title goes back to the automatic one."""
    if "title" in changes:
        title = changes["title"].strip()
        conversation.title_set = bool(title)
        conversation.title = title or _automatic_title(conversation)
    if "current_leaf" in changes:
        conversation.current_leaf = _message_in(conversation, changes["current_leaf"],
                                                "current_leaf")
    for field in ("pinned", *SETTINGS):
        if field in changes:
            setattr(conversation, field, changes[field])
    conversation.full_clean()
    conversation.save()
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def _automatic_title(conversation: Conversation) -> str:
    first = conversation.messages.filter(role=Message.Role.USER, parent=None).first()
    return title_from(first.content) if first else ""


@transaction.atomic
def message_create(*, conversation: Conversation, parent_id: int | None, role: str,
                   current: bool = True, **fields: Any) -> Message:
    """Add a message under `parent_id` (None: a first question); it becomes the current leaf
    unless `current` is False (a compared answer the user did not pick). Refuses a parent of
    another conversation, a question under a question or an answer under an answer."""
    parent = _message_in(conversation, parent_id, "parent")
    parent_role = None if parent is None else parent.role
    if role == Message.Role.ASSISTANT and parent_role != Message.Role.USER:
        raise DomainError("parent: an assistant message answers a user message.",
                          code="invalid_parent")
    if role == Message.Role.USER and parent_role == Message.Role.USER:
        raise DomainError("parent: a user message follows an answer or starts the conversation.",
                          code="invalid_parent")
    if role == Message.Role.USER and not fields.get("content", "").strip():
        raise DomainError("content: a user message needs some text.", code="blank")
    message = Message(conversation=conversation, parent=parent, role=role, **fields)
    message.full_clean()
    message.save()
    changed = ["updated_at"]
    if current:
        conversation.current_leaf = message
        changed.append("current_leaf")
    if role == Message.Role.USER and not conversation.title_set and not conversation.title:
        conversation.title = title_from(message.content)
        changed.append("title")
    conversation.save(update_fields=changed)
    return message


def preset_create(*, owner: Any, name: str, prompt: str) -> SystemPreset:
    preset = SystemPreset(owner=owner, name=name.strip(), prompt=prompt)
    preset.full_clean()
    preset.save()
    return preset


def preset_delete(*, preset: SystemPreset) -> None:
    preset.delete()
