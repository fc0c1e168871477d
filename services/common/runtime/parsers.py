"""One parser per type of environment variable: (variable name, raw text) -> value.

Each raises ValueError naming the variable and what it accepts, so a typo fails at start-up
with the setting to fix. :mod:`.variables` pairs every variable with one of these.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

# --- one parser per type: (variable name, raw text) -> value, ValueError naming the variable -


def text(name: str, raw: str) -> str:
    return raw


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def port(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"{name} must be a port number (0 to 65535), got {raw!r}")
    return int(raw)


def flag(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("0", "false", "no"):
        return False
    if lowered in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"{name} must be a {wanted} URL with a host, got {raw!r}")
    return raw


def amqp_url(name: str, raw: str) -> str:
    return _url(name, raw, ("amqp", "amqps"))


def http_url(name: str, raw: str) -> str:
    return _url(name, raw, ("http", "https"))


def addresses(name: str, raw: str) -> tuple[str, ...]:
    """``host:port,host:port``; blanks around commas are ignored."""
    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in found:
        host, _, number = address.rpartition(":")
        if not host or not number.isdigit():
            raise ValueError(f"{name} must be host:port,host:port…, got {raw!r}")
    return found


def directories(name: str, raw: str) -> tuple[Path, ...]:
    """Absolute directories separated by ``os.pathsep`` (``:``) or commas; blanks ignored."""
    found = tuple(
        Path(part.strip()) for part in re.split(f"[{re.escape(os.pathsep)},]", raw) if part.strip()
    )
    for directory in found:
        if not directory.is_absolute():
            raise ValueError(
                f"{name} must be absolute directories separated by {os.pathsep!r} or ',',"
                f" got {raw!r}"
            )
    return found


def one_of(*choices: str) -> Callable[[str, str], str]:
    def choice(name: str, raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    return choice
