"""The one place a Redis URL becomes a client: a plain `redis://` server, or a primary found
through Sentinel, `redis+sentinel://host:26379,host2:26379/MASTER/0`.

Through Sentinel, every new connection asks the sentinels who the primary is now (redis-py's
`SentinelConnectionPool`), and a connection that finds a demoted primary (READONLY) is dropped;
so after a failover the next call, and the next pub/sub subscription, reach the new primary by
themselves. Nothing here retries: a call during the failover fails like any Redis outage
(`ClusterUnavailable` to the cluster's callers), and the next one finds the new primary.
Never reads the environment; the URL comes from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379  # Sentinel's well-known port, when a host names none


@dataclass(frozen=True)
class SentinelAddress:
    """`redis+sentinel://[:password@]h1[:p1],h2[:p2]/MASTER[/DB]`."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None  # the primary's (and replicas') password, if any

    @classmethod
    def parse(cls, url: str) -> SentinelAddress:
        parts = urlsplit(url)
        if parts.scheme != SENTINEL_SCHEME:
            raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
        creds, _, hosts = parts.netloc.rpartition("@")
        password = unquote(creds.partition(":")[2]) if creds else None
        sentinels = []
        for item in hosts.split(","):
            host, sep, port = item.strip().rpartition(":")
            if not sep:
                host, port = item.strip(), str(SENTINEL_PORT)
            host = host.strip("[]")
            if not host or not port.isdigit():
                raise ValueError(f"bad sentinel address {item!r} in {url!r} (want host:port)")
            sentinels.append((host, int(port)))
        path = [p for p in parts.path.split("/") if p]
        if not path or len(path) > 2:
            raise ValueError(f"name the primary in {url!r}: redis+sentinel://host:port/MASTER/0")
        if len(path) == 2 and not path[1].isdigit():
            raise ValueError(f"the database in {url!r} must be a number")
        return cls(tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
                   password or None)


def check_url(url: str) -> None:
    """Raise ValueError (a message for the operator) unless `url` names a Redis we can use."""
    if is_sentinel(url):
        SentinelAddress.parse(url)
    elif urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"--redis-url: {url!r} is not redis://, rediss://, unix:// or "
                         f"{SENTINEL_SCHEME}://")


def is_sentinel(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME + "://")


def connect(url: str, *, timeout_s: float) -> aioredis.Redis:
    """A client for `url`; through Sentinel it follows the primary across failovers."""
    if not is_sentinel(url):
        return aioredis.Redis.from_url(url, socket_timeout=timeout_s,
                                       socket_connect_timeout=timeout_s)
    address = SentinelAddress.parse(url)
    sentinel = Sentinel(list(address.sentinels), socket_timeout=timeout_s,
                        socket_connect_timeout=timeout_s)
    client: aioredis.Redis = sentinel.master_for(
        address.master, db=address.db, password=address.password, socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s)
    return client
