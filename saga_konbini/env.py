"""Environment helpers for settings: every malformed value fails loudly at start-up.

Secrets may come from ``NAME`` or from a file named by ``NAME_FILE`` (Docker/Kubernetes secrets).
In development a missing secret is generated once into the local var/ folder, never hard-coded.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port

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
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_host_names(name: str) -> list[str]:
    """A comma-separated list of exact host names (lower-cased), without ports or wildcards."""
    names = [entry.lower().removesuffix(".") for entry in env_list(name, [])]
    for entry in names:
        domain, port = split_domain_port(entry)
        if domain != entry or port or entry.startswith(".") or not entry.strip(".-"):
            raise ImproperlyConfigured(
                f"{name}: {entry!r} is not a host name (no scheme, port, path or wildcard)"
            )
    return names


def env_networks(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of addresses or CIDR networks; an entry that is neither stops start-up."""
    entries = env_list(name, default)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {entry!r} is not an address or a network (CIDR)") from None
    return entries


def env_secret(name: str, *, dev_file: Path | None, make: Callable[[], str] | None = None) -> str:
    """A secret from ``NAME``, from the file named by ``NAME_FILE``, or (development only)
    from ``dev_file``, created on first use by ``make`` (default: 48 random bytes, url-safe).

    ``dev_file=None`` means production: a missing secret is a configuration error.
    """
    if value := os.environ.get(name):
        return value
    if path := os.environ.get(f"{name}_FILE"):
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points to an unreadable file") from exc
    if dev_file is None:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set in production")
    if not dev_file.exists():
        dev_file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not overwrite each other's secret.
        try:
            fd = os.open(dev_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write((make or _random_token)())
    return dev_file.read_text(encoding="utf-8").strip()


def _random_token() -> str:
    return secrets.token_urlsafe(48)


def new_aes_key_spec(key_id: str = "k1") -> str:
    """A fresh AES-256 key in the ``kid:base64key`` form that MY_NUMBER_KEYS takes."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"
