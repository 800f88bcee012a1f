"""The two look-ups the chat proxy makes on every request, a token and a model name, kept for a
few seconds in the process: each costs about half a millisecond before the first token.

Any change to tokens, users, models or routes, in any process (another web process, a worker,
`manage.py shell`), bumps a version number in Redis once committed; every request reads it
first (`follow_changes`: one Redis GET, a tenth of that) and empties this process's cache when
it moved. So a revoked key stops working at the next request everywhere, not when its entry
would have expired.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TypeVar

from cachetools import TTLCache
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from redis.exceptions import RedisError

from arthur_panel.redis_client import redis_client
from cluster_app.access.tokens import note_use, token_for_secret
from cluster_app.models import ApiToken
from models_app.models import LlmModel, NameRoute, RouteRule
from models_app.proxy.resolve import Resolved, resolve

logger = logging.getLogger(__name__)

LOOKUP_SECONDS = 10.0  # a look-up is fresh this long...
# ...and the express lane goes on using it this much longer, while it is looked up again
# beside the request (`kept`): the versions say whether anything changed meanwhile.
STALE_SECONDS = 60.0
VERSION_KEY = "arthur:proxy-lookups-version"
T = TypeVar("T")
_tokens: TTLCache[str, tuple[float, ApiToken]] = TTLCache(maxsize=1024, ttl=STALE_SECONDS)
_names: TTLCache[str, tuple[float, Resolved]] = TTLCache(maxsize=1024, ttl=STALE_SECONDS)
_lock = threading.Lock()  # the proxy's look-ups run on several pool threads
_seen: dict[str, object] = {"version": None}


def follow_changes() -> None:
    """Empty the cache if anything changed anywhere since it was filled: once per request,
    before its look-ups."""
    version = redis_client().get(VERSION_KEY)
    with _lock:
        if version != _seen["version"]:
            _tokens.clear()
            _names.clear()
            _seen["version"] = version


def _fresh(cache: TTLCache[str, tuple[float, T]], key: str) -> T | None:
    with _lock:
        entry = cache.get(key)
    if entry is None or time.monotonic() - entry[0] >= LOOKUP_SECONDS:
        return None
    return entry[1]


def _keep(cache: TTLCache[str, tuple[float, T]], key: str, value: T) -> None:
    with _lock:
        cache[key] = (time.monotonic(), value)


def token(secret: str, address: str | None = None) -> ApiToken | None:
    """The live token with this secret, or None (unknown secrets are never kept); a use from
    `address` is recorded as token_for_secret does."""
    digest = ApiToken.digest_of(secret)
    found = _fresh(_tokens, digest)
    if found is not None and not found.expired(timezone.now()):
        note_use(found, address)
        return found
    found = token_for_secret(secret, address)
    if found is not None:
        _keep(_tokens, digest, found)
    return found


def model(name: str) -> Resolved:
    """What a requested name means, as resolve.resolve says."""
    found = _fresh(_names, name)
    if found is None:
        found = resolve(name)
        _keep(_names, name, found)
    return found


@dataclass(frozen=True)
class Kept:
    """What this process holds for a request, found with no trip anywhere."""

    version: object  # the look-ups' version they were checked against
    token: ApiToken | None  # the token with the request's secret (None: not kept)
    named: Resolved | None  # what its model name means (None: not kept)
    stale: bool  # one of them is older than LOOKUP_SECONDS: to be looked up again


def kept(secret: str, name: str) -> Kept:
    digest = ApiToken.digest_of(secret)
    now = time.monotonic()
    with _lock:
        token_entry, name_entry = _tokens.get(digest), _names.get(name)
        version = _seen["version"]
    stale = any(now - entry[0] >= LOOKUP_SECONDS for entry in (token_entry, name_entry)
                if entry is not None)
    return Kept(version, token_entry[1] if token_entry else None,
                name_entry[1] if name_entry else None, stale)


def _bump_version() -> None:
    try:
        redis_client().incr(VERSION_KEY)
    except RedisError:
        # The proxy cannot serve without Redis either; entries still expire by themselves.
        logger.warning("Could not tell other processes that proxy look-ups changed.",
                       exc_info=True)


def forget() -> None:
    """Empty this process's cache."""
    with _lock:
        _tokens.clear()
        _names.clear()


def changed(**kwargs: object) -> None:
    """A token, user, model or route changed: forget here now, everywhere once committed."""
    forget()
    transaction.on_commit(_bump_version)


for _sender in (ApiToken, get_user_model(), LlmModel, NameRoute, RouteRule):
    post_save.connect(changed, sender=_sender, dispatch_uid=f"proxy-lookups-save-{_sender}")
    post_delete.connect(changed, sender=_sender, dispatch_uid=f"proxy-lookups-delete-{_sender}")
