"""Renders the nginx configuration of a caching edge in front of townhall origins. Sans-IO.

What the edge does, and why:
- checks tickets with `secure_link` (same MD5 as townhall.admission.tickets), so ticketless
  and forged media floods die here and never reach an origin;
- caches media under a key without the ticket, with `proxy_cache_lock` (one origin fetch per
  object, blocking reloads included) and `proxy_cache_use_stale updating error timeout
  http_5xx` + background update, so the details page keeps answering while the origin is
  busy or down;
- rate-limits joins and API calls per address and per /24 (`limit_req`), caps connections
  per address (`limit_conn`), and times out slow clients early (slowloris);
- sends every request of a space (media, API, WHIP, replay) to the origin that owns it: with
  several origins each has a tag (`--origin a=10.0.0.1:8000`, the origin runs with
  `--origin-tag a`) that begins the ids of the spaces it creates; requests without a space
  (create, list, pages) go to any origin.
Never starts nginx; `townhall edge-config` writes the file, the operator (or a test) runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SPACE = r"[a-z0-9]{10}"
TICKET = r"(?<seat>[A-Za-z0-9]{1,32})\.(?<exp>\d{1,12})\.(?<tok>[A-Za-z0-9_-]{22})"


TAG = re.compile(r"^[a-z0-9]{1,3}$")
# how nginx talks to clients, shared with the benchmarks' static-HLS nginx so that they
# compare the same server tuning
HTTP_TUNING = """\
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 30s;
    keepalive_requests 100000;"""


# details documents are small JSON polled by every page: gzip them at the edge, cheaply
DETAILS_GZIP = """\
            gzip on;
            gzip_types application/json;
            gzip_comp_level 1;
            gzip_min_length 256;
            gzip_proxied any;
            gzip_vary on;"""


@dataclass(frozen=True)
class EdgeSettings:
    origins: tuple[str, ...]  # [TAG=]host:port of each origin (tags needed for several)
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
    api_rate_per_address: str = "10r/s"
    api_burst_per_address: int = 40
    conn_per_address: int = 64
    client_timeout_s: int = 10
    blocking_wait_s: int = 10  # longest an origin may hold a blocking request (+ margin)
    extra_http: list[str] = field(default_factory=list)


def _json_error(name: str, status: int, code: str, detail: str) -> str:
    body = f'{{"error":"{code}","detail":"{detail}"}}'
    return (f"        location @{name} {{\n            default_type application/json;\n"
            f"            add_header Cache-Control no-store always;\n"
            f"            add_header Retry-After 2 always;\n"
            f"            return {status} '{body}';\n        }}\n")


def parse_origins(origins: tuple[str, ...]) -> list[tuple[str, str]]:
    """(tag, host:port) of each origin; ValueError unless several origins all have distinct
    tags of one length (an id's first characters must name exactly one origin)."""
    if not origins:
        raise ValueError("an edge needs at least one origin")
    out = []
    for o in origins:
        tag, _, addr = o.rpartition("=")
        if tag and not TAG.match(tag):
            raise ValueError(f"origin tag {tag!r}: 1 to 3 characters of a-z and 0-9")
        if not addr or any(c in addr for c in " ;{}'\"$"):
            raise ValueError(f"origin {o!r}: expected [TAG=]host:port")
        out.append((tag, addr))
    tags = [t for t, _ in out]
    if len(out) > 1 and (not all(tags) or len(set(tags)) != len(tags)
                         or len({len(t) for t in tags}) != 1):
        raise ValueError("with several origins give each a distinct tag of the same length "
                         "(--origin a=HOST:PORT --origin b=HOST:PORT), and start each origin "
                         "with its --origin-tag")
    return out


def _upstreams(origins: list[tuple[str, str]]) -> str:
    """`townhall_any` (all origins) and, per tagged origin, `townhall_o_TAG`; the map picks
    the owner of `$space` (any origin when there is none)."""
    blocks = ["    upstream townhall_any {\n" + "".join(
        f"        server {a} max_fails=0;\n" for _, a in origins) + "        keepalive 256;\n    }"]
    routes = []
    for tag, addr in origins:
        if tag:
            blocks.append(f"    upstream townhall_o_{tag} {{\n        server {addr} max_fails=0;\n"
                          "        keepalive 256;\n    }")
            routes.append(f"        ~^{tag} townhall_o_{tag};\n")
    blocks.append("    map $space $townhall_upstream {\n        default townhall_any;\n"
                  + "".join(routes) + "    }")
    return "\n".join(blocks)


def render(s: EdgeSettings) -> str:
    origins = parse_origins(s.origins)
    if any(c in s.ticket_secret for c in " ;'\"{}$"):
        raise ValueError("ticket secret must be a plain token")
    user = f"user {s.user};\n" if s.user else ""
    rlimit = f"worker_rlimit_nofile {s.rlimit_nofile};\n" if s.rlimit_nofile else ""
    proxy_common = """            proxy_pass http://$townhall_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_intercept_errors off;"""
    cached = f"""            proxy_cache townhall;
            proxy_cache_lock on;
            proxy_cache_lock_timeout {s.blocking_wait_s}s;
            proxy_cache_lock_age {s.blocking_wait_s}s;
            proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;
            proxy_cache_background_update on;
            proxy_cache_revalidate on;
            add_header X-Cache $upstream_cache_status always;"""
    # live playlists: no "updating" (it would serve an idle cache entry however old it is);
    # the origin's stale-while-revalidate=2 bounds staleness instead
    cached_live = cached.replace("updating error", "error")
    return f"""# townhall edge: generated by `townhall edge-config`; edit the flags, not this file.
{user}worker_processes auto;
{rlimit}
pid {s.prefix}/nginx.pid;
error_log {s.prefix}/error.log warn;

events {{
    worker_connections {s.worker_connections};
    multi_accept on;
}}

http {{
{HTTP_TUNING}
    server_tokens off;
    client_body_temp_path {s.prefix}/client_body;
    proxy_temp_path {s.prefix}/proxy_temp;
    fastcgi_temp_path {s.prefix}/fastcgi;
    uwsgi_temp_path {s.prefix}/uwsgi;
    scgi_temp_path {s.prefix}/scgi;
    types {{
        application/vnd.apple.mpegurl m3u8;
        audio/mp4 m4s mp4 m4a;
    }}

    # slow clients are cut off early; bodies are small everywhere
    client_header_timeout {s.client_timeout_s}s;
    client_body_timeout {s.client_timeout_s}s;
    send_timeout 30s;
    client_max_body_size 16k;
    reset_timedout_connection on;

    proxy_cache_path {s.prefix}/cache levels=1:2 keys_zone=townhall:64m max_size={s.cache_size}
                     inactive=10m use_temp_path=off;

    # /24 for IPv4, /48 for IPv6: one budget per network as well as per address
    map $remote_addr $townhall_net {{
        ~^(?<n4>\\d+\\.\\d+\\.\\d+)\\.\\d+$ $n4;
        ~^(?<n6>[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F]*): $n6;
        default $remote_addr;
    }}
    # a playlist asked for without _HLS_msn (a join, or a plain player's reload) is cached
    # for a tenth of a second only: its key carries the 100 ms it falls in, so a joiner
    # starts at the live edge, while each edge still asks the origin at most 10 times a
    # second; blocking reloads (with _HLS_msn) are unique and cached whole
    map "$arg__HLS_msn:$uri:$msec" $townhall_fresh {{
        "~^:[^:]*\\.m3u8:(?<bucket>\\d+\\.\\d)" $bucket;
        default "";
    }}
    # playlists come from the origin compressed once per publication: the edge asks for
    # gzip or nothing (never the client's own header) and keeps both forms in its cache
    map "$uri:$http_accept_encoding" $townhall_gzip {{
        "~*\\.m3u8:.*gzip\\s*;\\s*q=0(\\.0*)?\\s*(,|$)" "";
        "~*\\.m3u8:.*gzip" gzip;
        default "";
    }}
    limit_req_zone $binary_remote_addr zone=join_addr:32m rate={s.join_rate_per_address};
    limit_req_zone $townhall_net zone=join_net:16m rate={s.join_rate_per_network};
    limit_req_zone $binary_remote_addr zone=api_addr:32m rate={s.api_rate_per_address};
    limit_conn_zone $binary_remote_addr zone=conn_addr:32m;
    limit_req_status 429;
    limit_conn_status 429;

{_upstreams(origins)}

    server {{
        listen {s.listen} reuseport backlog=65535;
        limit_conn conn_addr {s.conn_per_address};
        proxy_connect_timeout 2s;
        proxy_read_timeout {s.blocking_wait_s}s;
        proxy_next_upstream error timeout http_502 http_504;
        set $space "";

        error_page 403 = @forbidden;
        error_page 410 = @expired;
        error_page 429 = @limited;
        error_page 502 504 = @origin_down;

        # the edge's own counters (connections, requests): for the operator on this machine
        location = /edge-status {{
            stub_status;
            allow 127.0.0.0/8;
            allow ::1;
            deny all;
        }}

        # the origins' operator routes (metrics, health) are scraped on the origins, never
        # through the edge, and never by the public
        location ~ "^/(metrics|healthz|readyz)$" {{
            return 404;
        }}

        # live media with a ticket: checked here, cached without the ticket in the key
        location ~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>[A-Za-z0-9_./]+)$" {{
            set $space $sp;
            secure_link $tok,$exp;
            secure_link_md5 "$exp$sp$seat {s.ticket_secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
            proxy_cache_key "$sp/$rest$is_args$args$townhall_fresh$townhall_gzip";
{cached_live}
{proxy_common}
            proxy_set_header Accept-Encoding $townhall_gzip;
            proxy_ignore_headers Vary;  # the key holds the encoding already
        }}

        # anything else under /live is ticketless or malformed: never reaches an origin
        location /live/ {{
            return 403;
        }}

        location ~ "^/api/spaces/(?<sp>{SPACE})/join$" {{
            set $space $sp;
            limit_req zone=join_addr burst={s.join_burst_per_address} nodelay;
            limit_req zone=join_net burst={s.join_burst_per_network} nodelay;
{proxy_common}
        }}

        # details documents: cached briefly, served stale while the origin is busy or down
        location ~ "^/api/spaces/(?<sp>{SPACE})$" {{
            set $space $sp;
            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;
            proxy_cache_key "$uri";
{cached}
{proxy_common}
{DETAILS_GZIP}
        }}

        # joins with a grant: any origin admits them ($space stays empty: spread over all)
        location ~ "^/api/admit/{SPACE}$" {{
            limit_req zone=join_addr burst={s.join_burst_per_address} nodelay;
            limit_req zone=join_net burst={s.join_burst_per_network} nodelay;
{proxy_common}
        }}

        # origins report their grant seats to the space's origin (signed; not rate-limited)
        location ~ "^/api/spaces/(?<sp>{SPACE})/audience$" {{
            set $space $sp;
{proxy_common}
        }}

        # everything else about one space (host, end, leave, reactions, stage): its origin
        location ~ "^/api/spaces/(?<sp>{SPACE})/" {{
            set $space $sp;
            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;
{proxy_common}
        }}

        location /api/ {{
            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;
{proxy_common}
        }}

        # speakers publish to the space's origin (WHIP offers and session DELETEs)
        location ~ "^/whip/(?<sp>{SPACE})(/|$)" {{
            set $space $sp;
            client_max_body_size 64k;
{proxy_common}
        }}

        # replays, the signed record and space pages: from the space's origin, cached
        location ~ "^/(replay|spaces|record)/(?<sp>{SPACE})" {{
            set $space $sp;
            proxy_cache_key "$uri";
{cached}
{proxy_common}
        }}

        location /docs {{
{proxy_common}
        }}

        location /openapi.json {{
{proxy_common}
        }}

        # pages, static files and replays: cached, stale allowed
        location / {{
            proxy_cache_key "$uri";
{cached}
{proxy_common}
        }}

{_json_error("forbidden", 403, "bad_ticket", "media needs a valid ticket from /join")}\
{_json_error("expired", 403, "ticket_expired", "the ticket lapsed; renew it with /join")}\
{_json_error("limited", 429, "rate_limited", "too many requests; slow down")}\
{_json_error("origin_down", 503, "origin_unavailable", "retry shortly")}\
    }}
{"".join(s.extra_http)}}}
"""


def directories(s: EdgeSettings) -> list[str]:
    """Folders under the prefix that nginx expects to exist and to be writable."""
    return [f"{s.prefix}/{d}" for d in
            ("cache", "client_body", "proxy_temp", "fastcgi", "uwsgi", "scgi")]
