"""API keys: made with scopes the user's role allows, listed, revoked (kept, marked revoked)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from arthur_panel.exceptions import Conflict, DomainError
from cluster_app.access.limits import KINDS
from cluster_app.access.permissions import ADMINISTER, PermissionRequired, require
from cluster_app.access.rules import CHAT, scopes_beyond
from cluster_app.exo.names import catalogue_model_id
from cluster_app.models import ApiToken, ApiTokenQuerySet


def allowed_model_ids(names: Iterable[str]) -> list[str]:
    """exo's ids for model names (slugs, aliases, repo ids), through the catalogue's resolver;
    DomainError naming any it does not know."""
    names = [name.strip() for name in names if name.strip()]
    found = {name: catalogue_model_id(name) for name in names}
    if unknown := [name for name, model_id in found.items() if model_id is None]:
        raise DomainError(f"The catalogue knows no model {', '.join(unknown)}.",
                          code="unknown_model")
    return list(dict.fromkeys(model_id for model_id in found.values() if model_id))


def key_create(*, user: Any, name: str, scopes: list[str], models: Iterable[str] = (),
               expires_at: datetime | None = None, note: str = "",
               limits: dict[str, int | None] | None = None) -> tuple[ApiToken, str]:
    """A new key of `user` and its secret (shown once). PermissionRequired if a scope exceeds
    the user's role; DomainError for models on a key that cannot chat, or unknown models."""
    if beyond := scopes_beyond(scopes, user.has_perm):
        raise PermissionRequired(
            f"Your role cannot give a key the {', '.join(beyond)} scope: a key never does more "
            "than its user may.")
    model_ids = allowed_model_ids(models)
    if model_ids and CHAT not in scopes:
        raise DomainError("Allowed models narrow a chat key; this key has no chat scope.",
                          code="invalid_models")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("The expiry is in the past.", code="invalid_expiry")
    return ApiToken.issue(user=user, name=name, scopes=scopes, allowed_models=model_ids,
                          expires_at=expires_at, note=note, **_limit_fields(limits or {}))


def _limit_fields(limits: dict[str, int | None]) -> dict[str, int | None]:
    if unknown := set(limits) - set(KINDS):
        raise DomainError(f"No such limit: {', '.join(sorted(unknown))}.", code="invalid_limit")
    return limits


def key_set_limits(*, key: ApiToken, user: Any, limits: dict[str, int | None],
                   token: Any = None) -> ApiToken:
    """Set (a number) or clear (None: only the user's limit applies) `key`'s own limits. A
    key's limits only narrow its user's, so its owner may set them; another user's key needs
    ADMINISTER. They apply from the next request, in every process (the proxy's look-up
    cache is told through Redis when a key is saved)."""
    if key.user_id != user.pk:
        require(user, ADMINISTER, "Changing another user's key", token=token)
    fields = _limit_fields(limits)
    with transaction.atomic():  # with its audit entry (cluster_app.audit.signals)
        for field, value in fields.items():
            setattr(key, field, value)
        key.full_clean()
        key.save(update_fields=list(fields))
    return key


def keys_visible_to(user: Any) -> ApiTokenQuerySet:
    """The keys `user` may see and revoke: their own, or everyone's for an admin."""
    keys = ApiToken.objects.select_related("user")
    return keys if user.has_perm(ADMINISTER) else keys.filter(user=user)


def key_revoke(*, key: ApiToken, user: Any, token: Any = None) -> ApiToken:
    """Revoke `key` now (it stays listed). Another user's key needs ADMINISTER; Conflict if it
    was revoked already. Every process stops accepting it within a request (lookups.py) and
    its open sockets close (revocation.py), both once this commits."""
    if key.user_id != user.pk:
        require(user, ADMINISTER, "Revoking another user's key", token=token)
    with transaction.atomic():
        claimed = ApiToken.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now())
        if not claimed:
            raise Conflict(f"Key {key.hint}… was revoked already.", code="already_revoked")
        key.refresh_from_db()
        # update() sends no signal: save() does, for the caches and sockets listening.
        key.save(update_fields=["revoked_at"])
    return key
