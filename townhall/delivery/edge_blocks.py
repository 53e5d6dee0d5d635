"""The pieces every location of the edge's nginx.conf is made of: the settings, the path
patterns, and the directives shared by blocks (`location`, `proxy`, `cache`, `cors`). Sans-IO:
strings in, strings out. The blocks themselves are in edge_config (and edge_live, the
ticketed live media)."""

from __future__ import annotations

from dataclasses import dataclass, field

from townhall.delivery.blocking import MSN_DIGITS, PART_DIGITS
from townhall.delivery.canonical import canonical_number
from townhall.delivery.cors import parse_origins as parse_cors_origins

SPACE = r"[a-z0-9]{10}"
TICKET = r"(?<seat>[A-Za-z0-9]{1,32})\.(?<exp>\d{1,12})\.(?<tok>[A-Za-z0-9_-]{22})"


# numbers in live paths and queries have one spelling (townhall.delivery.blocking): `7`, never
# `007`; the origin refuses the others, the edge never asks it
MSN = canonical_number(MSN_DIGITS)
PART_INDEX = canonical_number(PART_DIGITS)
PART = rf"part/{MSN}\.{PART_INDEX}\.m4s"  # townhall.media.playlist.part_uri
# every other file an origin serves under a ticket (townhall.web.media.LIVE_ROUTES)
LIVE_FILE = (rf"(?:master|media|standard|segments|subs)\.m3u8|init\.mp4|seg/{MSN}\.m4s"
             rf"|vtt/{MSN}\.vtt")  # vtt, subs: the captions rendition (townhall.captions)


@dataclass(frozen=True)
class EdgeSettings:
    origins: tuple[str, ...]  # [TAG=]host:port of each origin (a tag is ignored)
    ticket_secret: str
    listen: str = "8080"  # port or address:port
    prefix: str = "/var/lib/townhall-edge"  # cache, temp files, logs, pid
    user: str | None = None  # worker user when started as root
    worker_connections: int = 16384
    rlimit_nofile: int | None = None  # raise the workers' open-file limit (needs privilege)
    cache_size: str = "2g"
    join_rate_per_address: str = "1r/s"
    join_burst_per_address: int = 10
    join_rate_per_network: str = "50r/s"
    join_burst_per_network: int = 200
    player_starts_burst_per_address: int = 32  # entry URL: players that do not retry a 429
    # seats.log: lines per seat (a start from an address), so that one ticket cannot grow it
    # without bound (issue 18: 274 MB/h from one ticket); about 60 bytes a line
    # (a start writes two: master.m3u8 and init.mp4; a ticket shared by many shows its first
    # 30 addresses at once, then 15 more a minute)
    seat_log_per_minute: int = 30
    seat_log_burst: int = 60
    api_rate_per_address: str = "10r/s"
    api_burst_per_address: int = 40
    conn_per_address: int = 64
    client_timeout_s: int = 10
    blocking_wait_s: int = 10  # longest an origin may hold a blocking request (+ margin)
    edge_secret: str = ""  # sent to origins in X-Townhall-Edge: they believe X-Real-IP
    origin_hold_conns: int = 256  # of them, blocking reloads (held up to blocking_wait_s) get
    # at most this many, from a pool of their own: holds never take the connections media needs
    origin_max_conns: int = 512  # connections one worker opens to one origin; past it the
    # edge answers 503 at once (or stale from its cache) instead of exhausting the origin
    ingest_idle_s: int = 30  # a push source silent this long is cut off (the origin's own
    # idle limit, ingest_idle_timeout_s, is shorter)
    ingest_max_s: int = 86400  # the longest push: the origin answers only when it ends
    extra_http: list[str] = field(default_factory=list)
    cors_origins: str = "*"  # who may read media, details, replays: "*" or origins, as Settings


def cors(value: str) -> str:
    """The edge's own CORS on a cached, public location (the origin's is not passed on)."""
    vary = ("" if "*" in parse_cors_origins(value)
            else "            add_header Vary Origin always;\n")
    return ("            proxy_hide_header Access-Control-Allow-Origin;\n"
            "            proxy_hide_header Access-Control-Expose-Headers;\n"
            "            add_header Access-Control-Allow-Origin $townhall_cors always;\n"
            "            add_header Access-Control-Expose-Headers $townhall_cors_expose always;\n"
            + vary)


def location(comment: str, match: str, body: str) -> str:
    """One location block: its comment lines (why), its match, its directives."""
    said = "".join(f"        # {line}\n" for line in comment.splitlines())
    return f"{said}        location {match} {{\n{body}\n        }}"


def proxy(s: EdgeSettings, target: str = "", pool: str = "townhall_origins") -> str:
    """Directives of every location that asks an origin: `target` is what follows the
    upstream's name in `proxy_pass` (empty: the client's own URI)."""
    return f"""            proxy_pass http://{pool}{target};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Townhall-Edge "{s.edge_secret}";
            proxy_intercept_errors off;"""


def cache(s: EdgeSettings, live: bool = False) -> str:
    """A cached location: one origin fetch per object (`proxy_cache_lock`), stale while the
    origin is busy or down. Live playlists take no "updating" (it would serve an idle cache
    entry however old it is; the origin's stale-while-revalidate=2 bounds staleness instead)
    and show X-Cache only when asked (X-Cache-Debug): on LL-HLS it would be 16 bytes on
    every part and every reload."""
    stale = "error" if live else "updating error"
    status = "$townhall_cache_debug" if live else "$upstream_cache_status"
    return f"""            proxy_cache townhall;
            proxy_cache_lock on;
            proxy_cache_lock_timeout {s.blocking_wait_s}s;
            proxy_cache_lock_age {s.blocking_wait_s}s;
            proxy_cache_use_stale {stale} timeout http_500 http_502 http_503 http_504;
            proxy_cache_background_update on;
            proxy_cache_revalidate on;
            add_header X-Cache {status} always;"""
