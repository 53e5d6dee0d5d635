"""The loopback-only rule: the load generator refuses any target or source off this machine.

Owns the parsing of the target URL into a `Target` (host, port, base path) and the check that
every address the generator would touch is loopback (127.0.0.0/8 or ::1; `localhost` means
127.0.0.1). Sans-IO: never resolves names, never opens a socket. Every entry point of the load
generator calls `check_target` first; nothing here can be switched off.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

LOCALHOST_NAMES = {"localhost": "127.0.0.1", "localhost.localdomain": "127.0.0.1",
                   "ip6-localhost": "::1"}


class NotLoopback(ValueError):
    """The target or a source address is not on this machine's loopback."""


@dataclass(frozen=True)
class Target:
    host: str  # a loopback IP literal (names are mapped, never resolved)
    port: int
    base_path: str = ""  # a prefix without the trailing slash, e.g. "" or "/origin"

    def __post_init__(self) -> None:
        # checked here too, so no code path can build a Target off loopback
        if loopback_ip(self.host) != self.host:
            raise NotLoopback(f"target host {self.host!r} must be a loopback IP literal")
        if not 0 < self.port < 65536:
            raise NotLoopback(f"target port {self.port} is out of range")

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def host_header(self) -> str:
        return f"[{self.host}]:{self.port}" if self.is_ipv6 else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_header}{self.base_path}"


def loopback_ip(host: str) -> str:
    """The loopback IP literal for `host`, or NotLoopback."""
    name = host.strip().strip("[]").lower()
    name = LOCALHOST_NAMES.get(name, name)
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        raise NotLoopback(f"{host!r} is not a loopback address: the load generator only "
                          "targets 127.0.0.0/8, ::1 or localhost") from None
    if not ip.is_loopback:
        raise NotLoopback(f"{host!r} is not a loopback address: the load generator only "
                          "targets 127.0.0.0/8, ::1 or localhost")
    return str(ip)


def check_target(url: str) -> Target:
    """Parse `http://<loopback>:<port>[/prefix]`; anything else is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http":
        raise NotLoopback(f"target {url!r}: only plain http:// on loopback is supported")
    if parts.hostname is None:
        raise NotLoopback(f"target {url!r} names no host")
    if parts.username or parts.password:
        raise NotLoopback(f"target {url!r}: credentials in the URL are not accepted")
    try:
        port = parts.port or 80
    except ValueError:
        raise NotLoopback(f"target {url!r} has a bad port") from None
    return Target(loopback_ip(parts.hostname), port, parts.path.rstrip("/"))


def check_source(address: str) -> str:
    """A source address to bind: must be an IPv4 loopback literal."""
    ip = loopback_ip(address)
    if ":" in ip:
        raise NotLoopback("source addresses are IPv4 loopback (127.x.y.z) only")
    return ip
