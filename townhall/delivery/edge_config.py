"""Renders the nginx configuration of a caching edge in front of townhall origins. Sans-IO.

What the edge does, and why:
- checks tickets with `secure_link` (same MD5 as townhall.admission.tickets), so ticketless
  and forged media floods die here and never reach an origin; an expired but genuine ticket
  goes to the origin uncached, which redirects it to a fresh one while its seat is held
  (townhall.live.player_tickets), and the entry URL `/live/ID/master.m3u8` is a rate-limited
  join;
- caches media under a key without the ticket, with `proxy_cache_lock` (one origin fetch per
  object, blocking reloads included) and `proxy_cache_use_stale updating error timeout
  http_5xx` + background update, so the details page keeps answering while the origin is
  busy or down;
- rate-limits joins and API calls per address and per /24 (`limit_req`), caps connections
  per address (`limit_conn`), and times out slow clients early (slowloris);
- spreads requests over the origins, which are all equal (a cluster answers anything about
  any space): a consistent hash of the space id keeps one space's requests on one origin (its
  cache stays warm, its joins meet one waiting room), requests without a space go anywhere,
  and a dead or refusing origin is skipped for the next one (`proxy_next_upstream`), so no
  origin is needed for any space. (`TAG=` before an origin is accepted and ignored.)
- answers CORS on what it caches (media, details, replays) by itself, from the same policy
  as the origin (`townhall.delivery.cors`: `--cors-origin`), never passing on the origin's
  headers for one caller to another; uncached API calls carry the origin's own answer.
Never starts nginx; `townhall edge-config` writes the file, the operator (or a test) runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from townhall.delivery.cors import EXPOSE_HEADERS
from townhall.delivery.cors import parse_origins as parse_cors_origins
from townhall.ingest.relay import relay_token

SPACE = r"[a-z0-9]{10}"
TICKET = r"(?<seat>[A-Za-z0-9]{1,32})\.(?<exp>\d{1,12})\.(?<tok>[A-Za-z0-9_-]{22})"


PART = r"part/[0-9]{1,12}\.[0-9]{1,6}\.m4s"  # townhall.media.playlist.part_uri
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
    origin_max_conns: int = 512  # connections one worker opens to one origin; past it the
    # edge answers 503 at once (or stale from its cache) instead of exhausting the origin
    ingest_idle_s: int = 30  # a push source silent this long is cut off (the origin's own
    # idle limit, ingest_idle_timeout_s, is shorter)
    ingest_max_s: int = 86400  # the longest push: the origin answers only when it ends
    extra_http: list[str] = field(default_factory=list)
    cors_origins: str = "*"  # who may read media, details, replays: "*" or origins, as Settings


def _cors_map(value: str) -> str:
    """`$townhall_cors`: the Access-Control-Allow-Origin for public resources ("" = none)."""
    origins = parse_cors_origins(value)
    # a request without Origin (a player, or a page of the edge's own site) gets no CORS
    # headers: on LL-HLS they would be ~130 bytes on every part and playlist, for nothing
    expose = (f'    map $townhall_cors $townhall_cors_expose {{\n        "" "";\n'
              f'        default "{EXPOSE_HEADERS}";\n    }}')
    if "*" in origins:
        return ('    map $http_origin $townhall_cors {\n        "" "";\n        default "*";\n'
                '    }\n' + expose)
    lines = "".join(f'        "{o}" $http_origin;\n' for o in origins)
    return (f'    map $http_origin $townhall_cors {{\n        default "";\n{lines}    }}\n'
            + expose)


def _cors(value: str) -> str:
    """The edge's own CORS on a cached, public location (the origin's is not passed on)."""
    vary = ("" if "*" in parse_cors_origins(value)
            else "            add_header Vary Origin always;\n")
    return ("            proxy_hide_header Access-Control-Allow-Origin;\n"
            "            proxy_hide_header Access-Control-Expose-Headers;\n"
            "            add_header Access-Control-Allow-Origin $townhall_cors always;\n"
            "            add_header Access-Control-Expose-Headers $townhall_cors_expose always;\n"
            + vary)


def _json_error(name: str, status: int, code: str, detail: str) -> str:
    body = f'{{"error":"{code}","detail":"{detail}"}}'
    return (f"        location @{name} {{\n            default_type application/json;\n"
            f"            add_header Cache-Control no-store always;\n"
            f"            add_header Access-Control-Allow-Origin $townhall_cors always;\n"
            f"            add_header Retry-After 2 always;\n"
            f"            return {status} '{body}';\n        }}\n")


def parse_origins(origins: tuple[str, ...]) -> list[tuple[str, str]]:
    """(tag, host:port) of each origin (the tag is optional and no longer routes)."""
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
    if len({a for _, a in out}) != len(out):
        raise ValueError("each origin may be named once")
    return out


def _upstreams(origins: list[tuple[str, str]], max_conns: int) -> str:
    """`townhall_origins`: every origin, chosen by a consistent hash of `$space` (of the
    request id when there is no space: spread evenly); an origin that fails is left out for
    2 s and its requests go to the next one; at most `max_conns` connections per origin per
    worker (an origin's descriptors are finite: past it nginx answers 502 fast)."""
    opts = f"max_fails=1 fail_timeout=2s max_conns={max_conns}"
    return ("    map $space $townhall_hash {\n        \"\" $request_id;\n        default $space;\n"
            "    }\n    upstream townhall_origins {\n        hash $townhall_hash consistent;\n"
            + "".join(f"        server {a} {opts};\n" for _, a in origins)
            + "        keepalive 256;\n    }")


INGEST_DOWN = ('{"error":"origin_unavailable",'
               '"detail":"push again: the edge sends it to a live origin"}')


def _ingest_location(s: EdgeSettings, proxy_common: str) -> str:
    """Push sources (chunked `PUT /ingest/ID`) go to the same origin as the space's WHIP
    offers and details (the consistent hash of the space), streamed as they come: no body
    buffering and no size limit, a timeout for a silent source, and no read timeout while the
    origin listens (it answers when the push ends). nginx cannot forward Icecast's own
    framing (SOURCE, or a PUT with no length and no chunking: read as an empty body), so
    such sources push to an origin's ingest port, or chunked HTTP through here. A refused
    connection to a dead origin goes to the next one (nothing was sent yet); an origin that
    dies mid-push ends the source's connection within 2 s (not 30 s of lingering), so its
    retry comes at once."""
    return f"""        location ~ "^/ingest/(?<sp>{SPACE})$" {{
            set $space $sp;
            limit_req zone=ingest_addr burst={s.api_burst_per_address} nodelay;
            limit_conn ingest_conn {s.conn_per_address};
            client_max_body_size 0;
            client_body_timeout {s.ingest_idle_s}s;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout {s.ingest_max_s}s;
            proxy_send_timeout {s.ingest_idle_s}s;
            # the origin answered (409, or it died: 502): a source that never reads
            # answers mid-body (ffmpeg) learns it when the connection closes, at once
            lingering_time 2s;
            error_page 502 504 = @ingest_down;
{proxy_common}
        }}

        location @ingest_down {{
            lingering_time 2s;
            default_type application/json;
            add_header Retry-After 1 always;
            return 503 '{INGEST_DOWN}';
        }}
"""


def _ingest_zones(s: EdgeSettings) -> str:
    """Per-address limits on pushes, except for an origin relaying the sources of its ingest
    port (`townhall.ingest.relay`: every relayed source comes from the origin's address),
    proven by a token derived from the edge secret; without a secret none is exempt."""
    exempt = f'        "{relay_token(s.edge_secret)}" "";\n' if s.edge_secret else ""
    return (f"    map $http_x_townhall_relay $townhall_ingest_addr {{\n{exempt}"
            "        default $binary_remote_addr;\n    }\n"
            "    limit_req_zone $townhall_ingest_addr zone=ingest_addr:16m "
            f"rate={s.api_rate_per_address};\n"
            "    limit_conn_zone $townhall_ingest_addr zone=ingest_conn:16m;")


def render(s: EdgeSettings) -> str:
    origins = parse_origins(s.origins)
    if any(c in s.ticket_secret + s.edge_secret for c in " ;'\"{}$\\"):
        raise ValueError("ticket and edge secrets must be plain tokens")
    user = f"user {s.user};\n" if s.user else ""
    rlimit = f"worker_rlimit_nofile {s.rlimit_nofile};\n" if s.rlimit_nofile else ""
    proxy_common = f"""            proxy_pass http://townhall_origins;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Townhall-Edge "{s.edge_secret}";
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
    # the origin's stale-while-revalidate=2 bounds staleness instead. X-Cache only when asked
    # (X-Cache-Debug): on LL-HLS it would be 16 bytes on every part and every reload
    cached_live = cached.replace("updating error", "error").replace(
        "X-Cache $upstream_cache_status", "X-Cache $townhall_cache_debug")
    cors = _cors(s.cors_origins)
    live_media = f"""            set $space $sp;
            secure_link $tok,$exp;
            secure_link_md5 "$exp$sp$seat {s.ticket_secret}";
            # parts, segments and init: no query at all; playlists: the HLS directives only
            # (set first: @renew keys and forwards an expired ticket's URL by them too)
            set $hls_query "";
            if ($rest ~ "[.]m3u8$") {{
                set $hls_query "$townhall_msn$townhall_part$townhall_skip";
            }}
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
            if ($townhall_revoked) {{ return 403; }}
            # an expired but genuine ticket goes to the origin, uncached: 302 to a fresh
            # ticket while its seat is held (standard players renew no other way)
            error_page 410 = @renew;
            error_page 403 = @forbidden;
            error_page 429 = @limited;
            error_page 502 504 = @origin_down;
            # at most seat_log_burst + seat_log_per_minute lines per seat: counted by a
            # limit_req that refuses nothing (dry run), and logged only while it passes
            limit_req zone=seat_log burst={s.seat_log_burst} nodelay;
            limit_req_dry_run on;
            access_log {s.prefix}/seats.log townhall_seats buffer=32k flush=2s
                       if=$townhall_seat_logged;
            # a joining (non-blocking) playlist is keyed by the 100 ms it is asked in, so it is
            # fresh; the encoding the edge asked for is in the key (gzip once at the origin)
            proxy_cache_key "$sp/$rest?$hls_query$townhall_fresh$townhall_gzip";
            # a redirect to a fresh ticket belongs to one listener: never under this key
            proxy_no_cache $upstream_http_location;
{cached_live}
{cors}{proxy_common.replace("townhall_origins;", "townhall_origins$uri?$hls_query;")}
            proxy_set_header Accept-Encoding $townhall_gzip;
            proxy_ignore_headers Vary;  # the key holds the encoding already"""
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
    limit_req_zone $binary_remote_addr zone=start_addr:32m rate={s.join_rate_per_address};
    limit_req_zone $binary_remote_addr zone=api_addr:32m rate={s.api_rate_per_address};
    limit_conn_zone $binary_remote_addr zone=conn_addr:32m;
    limit_req_status 429;
    limit_conn_status 429;
{_ingest_zones(s)}

    # who plays on which ticket: a player fetches master.m3u8 and init.mp4 when it starts, so
    # these lines count the distinct addresses per seat (`townhall tickets shared`) cheaply
    log_format townhall_seats '$msec $sp $seat $remote_addr';
    map $rest $townhall_seat_start {{ "master.m3u8" 1; "init.mp4" 1; default 0; }}
    map $townhall_seat_start $townhall_seat_key {{ 1 "$sp/$seat"; default ""; }}
    limit_req_zone $townhall_seat_key zone=seat_log:16m rate={s.seat_log_per_minute}r/m;
    map "$townhall_seat_start:$limit_req_status" $townhall_seat_logged {{
        "1:PASSED" 1; default 0; }}
    # seats revoked for sharing (`townhall tickets shared --revoke --edge-prefix`): refused here
    map "$sp/$seat" $townhall_revoked {{ default 0; include {s.prefix}/revoked*.map; }}

    # the cache status of live media, for whoever asks (X-Cache-Debug: 1), and nobody else
    map $http_x_cache_debug $townhall_cache_debug {{ "" ""; default $upstream_cache_status; }}

    # the only query a live playlist answers to (rfc8216bis §6.2.5); anything else in a
    # query string is dropped before the cache key and the origin see it
    map $arg__HLS_msn $townhall_msn {{ "~^[0-9]{{1,12}}$" "_HLS_msn=$arg__HLS_msn&";
                                      default ""; }}
    map $arg__HLS_part $townhall_part {{ "~^[0-9]{{1,6}}$" "_HLS_part=$arg__HLS_part&";
                                        default ""; }}
    # (an _HLS_skip that is neither YES nor v2 reaches the origin as one fixed bad value, so
    # it is answered 400 as the spec says, under one cache key whatever was sent)
    map $arg__HLS_skip $townhall_skip {{ "~^(YES|v2)$" "_HLS_skip=$arg__HLS_skip";
                                        "" ""; default "_HLS_skip=invalid"; }}

{_upstreams(origins, s.origin_max_conns)}
{_cors_map(s.cors_origins)}

    server {{
        listen {s.listen} reuseport backlog=65535;
        limit_conn conn_addr {s.conn_per_address};
        proxy_connect_timeout 2s;
        proxy_read_timeout {s.blocking_wait_s}s;
        proxy_next_upstream error timeout http_502 http_504;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 5s;
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

        # live parts: as below, without Cache-Control to the listener (the origin's still
        # rules this cache): a part URL is fetched once per listener and no cache stands
        # between an edge and its listeners, so it would be 39 bytes on every 0.32 s part
        location ~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>{PART})$" {{
{live_media}
            proxy_hide_header Cache-Control;
        }}

        # live media with a ticket: checked here, cached without the ticket in the key
        location ~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>[A-Za-z0-9_./]+)$" {{
{live_media}
        }}

        # the redirect is cached under the expired ticket's own URL, for as long as the
        # origin says (X-Accel-Expires: half the fresh ticket's life): one origin request
        # per player then
        location @renew {{
            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;
            proxy_cache townhall;
            proxy_cache_key "renew$uri?$hls_query";  # made-up queries share one key
            proxy_ignore_headers Cache-Control;  # private to clients; X-Accel-Expires here
{cors}{proxy_common.replace("townhall_origins;", "townhall_origins$uri?$hls_query;")}
        }}

        # the entry URL (the details' playlist_url): a join, answered by a 302 to a ticket
        location ~ "^/live/(?<sp>{SPACE})/master\\.m3u8$" {{
            set $space $sp;
            limit_req zone=start_addr burst={s.player_starts_burst_per_address} nodelay;
            limit_req zone=join_net burst={s.join_burst_per_network} nodelay;
{cors}{proxy_common}
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
{cors}{proxy_common}
{DETAILS_GZIP}
        }}

        # joins with a grant: any origin admits them ($space stays empty: spread over all)
        location ~ "^/api/admit/{SPACE}$" {{
            limit_req zone=join_addr burst={s.join_burst_per_address} nodelay;
            limit_req zone=join_net burst={s.join_burst_per_network} nodelay;
{proxy_common}
        }}

        # everything else about one space (host, end, leave, reactions, stage)
        location ~ "^/api/spaces/(?<sp>{SPACE})/" {{
            set $space $sp;
            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;
{proxy_common}
        }}

        location /api/ {{
            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;
{proxy_common}
        }}

        # speakers publish to the space's origin of the moment (WHIP offers, session DELETEs)
        location ~ "^/whip/(?<sp>{SPACE})(/|$)" {{
            set $space $sp;
            client_max_body_size 64k;
{proxy_common}
        }}

{_ingest_location(s, proxy_common)}
        # replays, the signed record and space pages: cached, stale allowed
        location ~ "^/(replay|spaces|record)/(?<sp>{SPACE})" {{
            set $space $sp;
            proxy_cache_key "$uri";
{cached}
{cors}{proxy_common}
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
