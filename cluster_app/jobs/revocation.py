"""Open websockets close when the credential they were opened with stops being valid.

Each socket joins its user's group and its credential's group (the API token's, or the
browser session's); these signal receivers send `auth.revoke` to the group concerned: a
revoked or deleted token, a deactivated or deleted user, a logout (that session), a new
password (the user's sessions; tokens stay valid, as over HTTP).
"""

from __future__ import annotations

import hashlib
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from cluster_app.jobs import events
from cluster_app.models import ApiToken

User = get_user_model()


def user_group(user_id: Any) -> str:
    return f"auth.user.{user_id}"


def user_sessions_group(user_id: Any) -> str:
    return f"auth.user.{user_id}.sessions"


def token_group(token_id: Any) -> str:
    return f"auth.token.{token_id}"


def session_group(session_key: str) -> str:
    # A digest: the session key is itself a credential, and group names are Redis keys.
    return f"auth.session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def credential_groups(scope: dict[str, Any]) -> list[str]:
    """The groups a socket authenticated by `scope` joins, to hear that it was revoked."""
    user_id = scope["user"].pk
    if token_id := scope.get("api_token_id"):
        return [user_group(user_id), token_group(token_id)]
    groups = [user_group(user_id), user_sessions_group(user_id)]
    session = scope.get("session")
    if session is not None and session.session_key:
        groups.append(session_group(session.session_key))
    return groups


async def still_valid(scope: dict[str, Any]) -> bool:
    """Whether the credential `scope` was authenticated with is still valid: asked once the
    socket has joined its groups, so a revocation just before that is not missed either."""
    if token_id := scope.get("api_token_id"):
        return await database_sync_to_async(ApiToken.objects.live().filter(pk=token_id).exists)()
    user = await get_user(scope)
    return bool(user.is_authenticated and user.pk == scope["user"].pk)


def revoke(group: str) -> None:
    events.publish_on_commit([group], {"type": "auth.revoke"})


@receiver(post_delete, sender=ApiToken, dispatch_uid="revoke-token-sockets")
def token_deleted(sender: type, instance: ApiToken, **kwargs: Any) -> None:
    revoke(token_group(instance.pk))


@receiver(post_save, sender=ApiToken, dispatch_uid="revoke-revoked-token-sockets")
def token_saved(sender: type, instance: ApiToken, **kwargs: Any) -> None:
    if instance.revoked_at is not None:
        revoke(token_group(instance.pk))


@receiver(post_delete, sender=User, dispatch_uid="revoke-deleted-user-sockets")
def user_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    revoke(user_group(instance.pk))


@receiver(post_save, sender=User, dispatch_uid="revoke-changed-user-sockets")
def user_saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        return
    if not instance.is_active:
        revoke(user_group(instance.pk))
    # set_password() keeps the new password here until save() has stored it; Django itself
    # reads it there, after this signal, to tell the password validators.
    elif getattr(instance, "_password", None) is not None:
        revoke(user_sessions_group(instance.pk))


@receiver(user_logged_out, dispatch_uid="revoke-session-sockets")
def logged_out(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and request.session.session_key:
        revoke(session_group(request.session.session_key))
