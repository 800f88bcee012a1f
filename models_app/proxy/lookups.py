"""The two look-ups the chat proxy makes on every request, a token and a model name, kept for a
few seconds in the process: each costs about half a millisecond before the first token.

Changes made through the panel (the admin, the API, the ORM in this process) clear them at
once through model signals; a token revoked from another process (`manage.py shell`) still
works here for at most LOOKUP_SECONDS.
"""

from __future__ import annotations

import threading

from cachetools import TTLCache
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from cluster_app.access.tokens import token_for_secret
from cluster_app.models import ApiToken
from models_app.models import LlmModel, NameRoute, RouteRule
from models_app.proxy.resolve import Resolved, resolve

LOOKUP_SECONDS = 10.0
_tokens: TTLCache[str, ApiToken] = TTLCache(maxsize=1024, ttl=LOOKUP_SECONDS)
_names: TTLCache[str, Resolved] = TTLCache(maxsize=1024, ttl=LOOKUP_SECONDS)
_lock = threading.Lock()  # the proxy's look-ups run on several pool threads


def token(secret: str) -> ApiToken | None:
    """The live token with this secret, or None (unknown secrets are never kept)."""
    digest = ApiToken.digest_of(secret)
    with _lock:
        found = _tokens.get(digest)
    if found is None:
        found = token_for_secret(secret)
        if found is not None:
            with _lock:
                _tokens[digest] = found
    return found


def model(name: str) -> Resolved:
    """What a requested name means, as resolve.resolve says."""
    with _lock:
        found = _names.get(name)
    if found is None:
        found = resolve(name)
        with _lock:
            _names[name] = found
    return found


def forget(**kwargs: object) -> None:
    with _lock:
        _tokens.clear()
        _names.clear()


for _sender in (ApiToken, get_user_model(), LlmModel, NameRoute, RouteRule):
    post_save.connect(forget, sender=_sender, dispatch_uid=f"proxy-lookups-save-{_sender}")
    post_delete.connect(forget, sender=_sender, dispatch_uid=f"proxy-lookups-delete-{_sender}")
