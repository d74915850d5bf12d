"""``[HOST:]PORT`` for ``--serve``: parsed once, loopback by default."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import ConfigError

#: where the live view listens unless told otherwise: this machine only
DEFAULT_HOST = "127.0.0.1"
#: host names a loopback-bound live view answers to (the Host header of the request)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    text: str  # as the user wrote it, for messages


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(value: str | int) -> Address:
    """``"8000"`` / ``8000`` -> 127.0.0.1:8000; ``"0.0.0.0:8000"``, ``"[::]:8000"``, ``"host:0"`` (0: any free
    port). Raises ``ConfigError`` saying what to write."""
    text = str(value).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"--serve '{text}' is not [HOST:]PORT",
                          hint="write e.g. --serve 8000 (this machine only) or --serve 0.0.0.0:8000")
    return Address(host, port, text)
