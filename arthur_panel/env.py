"""Strict readers for settings that come from the environment.

A value that cannot be parsed stops start-up with the variable's name, instead of
silently falling back to a default the operator did not choose.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no, not {raw!r}")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _env_number(name: str, default: float, parse: type, minimum: float, what: str) -> Any:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    return int(_env_number(name, default, int, minimum, "a whole number"))


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    return float(_env_number(name, default, float, minimum, "a number"))


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses (`10.0.0.5`) and networks (`10.0.0.0/24`, `fd00::/8`), comma-separated."""
    networks = []
    for entry in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {entry!r} is not an IP address or network (10.0.0.5, 10.0.0.0/24)"
            ) from None
    return networks


def env_redis_url(name: str, default: str) -> str:
    """The Redis URL in `name`. ImproperlyConfigured when it reaches Redis over the network
    without a password: whoever can reach that port could read every job and queue their own."""
    url = os.environ.get(name, default)
    parts = urlsplit(url)
    if parts.scheme == "unix" or _is_loopback(parts.hostname or ""):
        return url
    if parts.password or parse_qs(parts.query).get("password"):
        return url
    host = parts.hostname or url
    raise ImproperlyConfigured(
        f"{name} reaches Redis on {host} without a password, so anyone on the network could "
        f"read and queue the panel's jobs. Give Redis a password (`requirepass <password>`, or an "
        f"ACL user, in its redis.conf, with `protected-mode yes`) and put it in the URL: "
        f"redis://:<password>@{host}:{parts.port or 6379}/0, or "
        f"redis://<user>:<password>@{host}:{parts.port or 6379}/0 for an ACL user.")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def env_secret(name: str, path: Path) -> str:
    """Return the secret from `name`, from the file `<name>_FILE`, or from `path` (made on
    first use, see `stored_secret`)."""
    if value := os.environ.get(name):
        return value
    if file_name := os.environ.get(f"{name}_FILE"):
        return Path(file_name).read_text().strip()
    return stored_secret(path)


def stored_secret(path: Path) -> str:
    """The secret kept in `path`; when there is none, a new one is written there (created with
    mode 0600 and linked into place, so a half-written secret is never read)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    try:
        os.link(tmp, path)  # fails if another process won the race: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
