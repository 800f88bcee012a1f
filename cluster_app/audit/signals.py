"""Actions recorded where Django announces them: logins, failed logins and logouts (auth
signals), API tokens issued, revoked, limited and deleted (however that happens: the Keys page,
the admin, `issue_token`, a shell)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from cluster_app.access.limits import KINDS
from cluster_app.audit.services import Outcome, record
from cluster_app.models import ApiToken

WRONG_PASSWORD = "Wrong username or password."
LOCKED_OUT = "Locked out after too many failed logins."


@receiver(user_logged_in, dispatch_uid="audit-login")
def logged_in(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    record(action="login", target=user.get_username(), user=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def logged_out(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(action="logout", target=user.get_username(), user=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def login_failed(sender: type, credentials: dict[str, Any], request: Any = None,
                 **kwargs: Any) -> None:
    # django-axes marks the request when the refusal is its lockout, not the password.
    locked = getattr(request, "axes_locked_out", False)
    record(action="login.failed", target=str(credentials.get("username", "")),
           outcome=Outcome.REFUSED, message=LOCKED_OUT if locked else WRONG_PASSWORD,
           request=request)


def _token_target(token: ApiToken) -> str:
    return f"token {token.hint}… of {token.user.get_username()}"


@receiver(post_save, sender=ApiToken, dispatch_uid="audit-token-issued")
def token_saved(sender: type, instance: ApiToken, created: bool,
                update_fields: frozenset[str] | None = None, **kwargs: Any) -> None:
    """Issued, revoked, or its limits changed (keys.py saves just those fields, in the
    transaction this entry joins)."""
    changed = update_fields or frozenset()
    if created:
        record(action="token.create", target=_token_target(instance),
               params={"id": str(instance.pk), "name": instance.name})
    elif "revoked_at" in changed:
        record(action="token.revoke", target=_token_target(instance),
               params={"id": str(instance.pk)})
    elif limits := sorted(changed & set(KINDS)):
        record(action="token.limits", target=_token_target(instance),
               params={kind: getattr(instance, kind) for kind in limits})


@receiver(post_delete, sender=ApiToken, dispatch_uid="audit-token-deleted")
def token_deleted(sender: type, instance: ApiToken, **kwargs: Any) -> None:
    record(action="token.delete", target=_token_target(instance),
           params={"id": str(instance.pk), "name": instance.name})
