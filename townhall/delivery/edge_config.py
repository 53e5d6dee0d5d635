"""Renders the nginx configuration of a caching edge in front of townhall origins. Sans-IO.

What the edge does, and why:
- checks tickets with `secure_link` (same MD5 as townhall.admission.tickets), so ticketless
  and forged media floods die here and never reach an origin; an expired but genuine ticket
  plays on at the same URLs while an origin's renewal check, asked once per ticket lifetime
  and cached here (`auth_request`), says its seat is held (townhall.live.joins.player_tickets:
  no redirects, so no player's URIs change under it), and the entry URL
  `/live/ID/master.m3u8` is a rate-limited join;
- caches media under a key without the ticket, with `proxy_cache_lock` (one origin fetch per
  object, blocking reloads included) and `proxy_cache_use_stale updating error timeout
  http_5xx` + background update, so the details page keeps answering while the origin is
  busy or down;
- keys only canonical values (docs/threat-model.md, "Canonical before keyed"): the HLS
  directives, live, replay and record paths and clip queries have one spelling each
  (townhall.delivery.canonical, .blocking), anything else is refused here with a JSON 400
  and never reaches an origin; a response that depends on the query (a playlist, a clip's
  redirect) is keyed with it, any other is fetched without one;
- sends blocking reloads, which an origin holds until their part is out, to a pool of their
  own (`townhall_holds`: no failure accounting, its own connection cap), so held reloads never
  mark an origin down or take the connections media needs;
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
The file's skeleton is `edge_nginx.conf.template`; each location block is one function below,
in the order of `LOCATIONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from townhall.delivery.blocking import MSN_DIGITS, PART_DIGITS, SKIP_VALUES
from townhall.delivery.canonical import SECONDS, SEGMENT_NUMBER, canonical_number
from townhall.delivery.cors import EXPOSE_HEADERS
from townhall.delivery.cors import parse_origins as parse_cors_origins
from townhall.delivery.relay_token import relay_token

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
    origin_hold_conns: int = 256  # of them, blocking reloads (held up to blocking_wait_s) get
    # at most this many, from a pool of their own: holds never take the connections media needs
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


def _json_error(name: str, status: int, code: str, detail: str, retry: bool = True) -> str:
    body = f'{{"error":"{code}","detail":"{detail}"}}'
    again = "            add_header Retry-After 2 always;\n" if retry else ""
    return (f"        location @{name} {{\n            default_type application/json;\n"
            f"            add_header Cache-Control no-store always;\n"
            f"            add_header Access-Control-Allow-Origin $townhall_cors always;\n"
            f"{again}            return {status} '{body}';\n        }}\n")


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


def _upstreams(origins: list[tuple[str, str]], s: EdgeSettings) -> str:
    """`townhall_origins`: every origin, chosen by a consistent hash of `$space` (of the
    request id when there is no space: spread evenly); an origin that fails is left out for
    2 s and its requests go to the next one; at most `origin_max_conns` connections per origin
    per worker (an origin's descriptors are finite: past it nginx answers 502 fast).

    `townhall_holds`: the same origins for blocking reloads only (`$townhall_pool`). A held
    reload is answered when its part is out, or times out by design: that says nothing about
    the origin's health, so it never counts as a failure (`max_fails=0`: with `max_fails=1`
    one timed-out hold took the origin out for 2 s and listeners' misses got 503), and holds
    have their own connection budget (`origin_hold_conns`), so however many are held, parts,
    segments and joins still reach the origin."""
    media = f"max_fails=1 fail_timeout=2s max_conns={s.origin_max_conns}"
    holds = f"max_fails=0 max_conns={s.origin_hold_conns}"
    return ("    map $space $townhall_hash {\n        \"\" $request_id;\n        default $space;\n"
            "    }\n    upstream townhall_origins {\n        hash $townhall_hash consistent;\n"
            + "".join(f"        server {a} {media};\n" for _, a in origins)
            + "        keepalive 256;\n    }\n"
            "    upstream townhall_holds {\n        hash $townhall_hash consistent;\n"
            + "".join(f"        server {a} {holds};\n" for _, a in origins)
            + "        keepalive 64;\n    }\n"
            '    map $townhall_msn $townhall_pool { "" townhall_origins; default townhall_holds; }')


BAD_LIVE_PATH = ('{"error":"non_canonical_path","detail":"live files are master.m3u8, '
                 'media.m3u8, standard.m3u8, segments.m3u8, init.mp4, seg/MSN.m4s and '
                 'part/MSN.INDEX.m4s, numbers without leading zeros"}')
BAD_CLIP_QUERY = ('{"error":"non_canonical_query","detail":"a clip is clip?from=S&to=S, '
                  'seconds without sign, exponent or trailing zeros (2.5, not 2.50)"}')
BAD_RECORD_PATH = ('{"error":"non_canonical_path","detail":"numbers in replay and record '
                   'paths have no sign and no leading zeros (clip/7-9.m4a)"}')
NO_SUCH_PATH = ('{"error":"not_found","detail":"no such replay, record or space page"}')
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


# the file around the locations: nginx syntax as nginx reads it, %(name)s where a setting goes
TEMPLATE = Path(__file__).with_name("edge_nginx.conf.template").read_text()

# a query name that reads as an HLS directive in any case or percent-encoding (`_hls_`)
_DIRECTIVE_LIKE = "(?i:" + "".join(
    f"(?:{c}|%{ord(c.lower()):02x}|%{ord(c.upper()):02x})" for c in "_hls_") + ")"
_DIRECTIVE = (f"(?:_HLS_msn={MSN}|_HLS_part={PART_INDEX}"
              f"|_HLS_skip=(?:{'|'.join(SKIP_VALUES)}))(?:&|$)")
# refused: a directive-like name that is not a canonical directive; a directive twice (nginx
# reads the first, the origin's parser the last); _HLS_part without _HLS_msn (§6.2.5.2)
HLS_QUERY_BAD = "|".join((
    f"(?:^|&)(?!{_DIRECTIVE}){_DIRECTIVE_LIKE}",
    r"(?:^|&)(_HLS_(?:msn|part|skip))=(?:[^&]*&)+\1=",
    "^(?!(?:.*&)?_HLS_msn=)(?:.*&)?_HLS_part="))
def _location(comment: str, match: str, body: str) -> str:
    """One location block: its comment lines (why), its match, its directives."""
    said = "".join(f"        # {line}\n" for line in comment.splitlines())
    return f"{said}        location {match} {{\n{body}\n        }}"


def _proxy(s: EdgeSettings, target: str = "", pool: str = "townhall_origins") -> str:
    """Directives of every location that asks an origin: `target` is what follows the
    upstream's name in `proxy_pass` (empty: the client's own URI)."""
    return f"""            proxy_pass http://{pool}{target};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Townhall-Edge "{s.edge_secret}";
            proxy_intercept_errors off;"""


def _cache(s: EdgeSettings, live: bool = False) -> str:
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


def _join_limits(s: EdgeSettings) -> str:
    """Joins are rate-limited per address and per network (the same budget everywhere a
    listener can join: the entry URL, /join, a grant's /admit)."""
    return (f"            limit_req zone=join_addr burst={s.join_burst_per_address} nodelay;\n"
            f"            limit_req zone=join_net burst={s.join_burst_per_network} nodelay;")


def _api_limit(s: EdgeSettings) -> str:
    return f"            limit_req zone=api_addr burst={s.api_burst_per_address} nodelay;"


def _live_media(s: EdgeSettings, grace: str = "@grace") -> str:
    """Live media with a ticket: checked here, cached without the ticket in the key; an
    expired but genuine ticket goes to `grace` (`_grace`)."""
    return f"""            set $space $sp;
            secure_link $tok,$exp;
            secure_link_md5 "$exp$sp$seat {s.ticket_secret}";
            # parts, segments and init: no query at all; playlists: the HLS directives only
            # (set first: {grace} keys and forwards an expired ticket's URL by them too)
            set $hls_query "";
            if ($rest ~ "[.]m3u8$") {{
                set $hls_query "$townhall_msn$townhall_part$townhall_skip";
            }}
            if ($secure_link = "") {{ return 403; }}
            if ($townhall_revoked) {{ return 403; }}
            if ($townhall_refuse_query) {{ return 400; }}
            # an expired but genuine ticket plays on, on the same URL, while its seat is held
            # (one renewal check per ticket lifetime, cached here): {grace}
            if ($secure_link = "0") {{ return 410; }}
            error_page 410 = {grace};
            recursive_error_pages on;  # so that {grace}'s own error pages apply
            error_page 400 = @bad_query;
            error_page 403 = @forbidden;
            error_page 429 = @limited;
            error_page 502 504 = @origin_down;
            # at most seat_log_burst + seat_log_per_minute lines per seat: counted by a
            # limit_req that refuses nothing (dry run), and logged only while it passes
            limit_req zone=seat_log burst={s.seat_log_burst} nodelay;
            limit_req_dry_run on;
            access_log {s.prefix}/seats.log townhall_seats buffer=32k flush=2s
                       if=$townhall_seat_logged;
{_live_fetch(s, "$uri?$hls_query")}"""


def _live_fetch(s: EdgeSettings, upstream: str) -> str:
    """How live media is cached and fetched, whoever's ticket let it through; `upstream` is
    the path (and directives) the origin is asked for."""
    return f"""\
            # a joining (non-blocking) playlist is keyed by the 100 ms it is asked in, so it is
            # fresh; the encoding the edge asked for is in the key (gzip once at the origin)
            proxy_cache_key "$sp/$rest?$hls_query$townhall_fresh$townhall_gzip";
            # a redirect to a fresh ticket belongs to one listener: never under this key
            proxy_no_cache $upstream_http_location;
{_cache(s, live=True)}
{_cors(s.cors_origins)}{_proxy(s, upstream, pool="$townhall_pool")}
            proxy_set_header Accept-Encoding $townhall_gzip;
            proxy_ignore_headers Vary;  # the key holds the encoding already"""


def _edge_status(s: EdgeSettings) -> str:
    return _location("the edge's own counters (connections, requests): for the operator on "
                     "this machine", "= /edge-status",
                     "            stub_status;\n            allow 127.0.0.0/8;\n"
                     "            allow ::1;\n            deny all;")


def _operator_routes(s: EdgeSettings) -> str:
    return _location("the origins' operator routes (metrics, health) are scraped on the "
                     "origins, never\nthrough the edge, and never by the public",
                     '~ "^/(metrics|healthz|readyz)$"', "            return 404;")


def _live_parts(s: EdgeSettings) -> str:
    return _location(
        "live parts: as below, without Cache-Control to the listener (the origin's still\n"
        "rules this cache): a part URL is fetched once per listener and no cache stands\n"
        "between an edge and its listeners, so it would be 39 bytes on every 0.32 s part",
        f'~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>{PART})$"',
        _live_media(s, "@grace_part") + "\n            proxy_hide_header Cache-Control;")


def _live_tickets(s: EdgeSettings) -> str:
    return _location(
        "live media with a ticket: checked here, cached without the ticket in the key",
        f'~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>{LIVE_FILE})$"', _live_media(s))


def _live_misspelled(s: EdgeSettings) -> str:
    return _location(
        "any other path under a ticket is a file no origin serves, or a known one misspelled\n"
        "(`part/007.1.m4s`): refused here, never a cache key or an origin request of its own",
        f'~ "^/live/{SPACE}/t/"',
        "            default_type application/json;\n"
        "            add_header Cache-Control no-store always;\n"
        f"            return 400 '{BAD_LIVE_PATH}';")


def _grace_body(s: EdgeSettings) -> str:
    return f"""            auth_request /_townhall/renewal;
            auth_request_set $townhall_ticket $upstream_http_x_townhall_ticket;
            recursive_error_pages on;  # reached by an error page: its own apply too
            error_page 403 = @seat_gone;
            error_page 429 = @limited;
            error_page 500 502 504 = @origin_down;
{_live_fetch(s, "/live/$sp/t/$townhall_ticket/$rest?$hls_query")}"""


def _grace(s: EdgeSettings) -> str:
    return _location(
        "an expired but genuine ticket plays on at the URL the player has (Shaka resolves its\n"
        "segments against the first redirect it saw, so a redirect per lapsed ticket became\n"
        "one per segment): while the origin's renewal check says its seat is held, asked once\n"
        "per ticket lifetime (cached per ticket), the media is fetched with the ticket that\n"
        "check gave this edge; once the seat is gone, 403 within a ticket lifetime",
        "@grace", _grace_body(s))


def _grace_part(s: EdgeSettings) -> str:
    return _location("the same for live parts (no Cache-Control to the listener)",
                     "@grace_part",
                     _grace_body(s) + "\n            proxy_hide_header Cache-Control;")


def _renewal(s: EdgeSettings) -> str:
    """The renewal check behind `@grace`: cached under the expired ticket for as long as the
    origin says (X-Accel-Expires: one ticket lifetime, or as long for a refusal), one origin
    request per ticket at a time (`proxy_cache_lock`); internal, so never a client's URL."""
    return _location(
        "the renewal check of an expired ticket (auth_request): one per ticket lifetime",
        "= /_townhall/renewal",
        f"""            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_cache townhall;
            proxy_cache_key "renewal/$sp/$seat.$exp.$tok";
            proxy_cache_lock on;
            proxy_cache_lock_timeout {s.blocking_wait_s}s;
            proxy_ignore_headers Cache-Control;  # private to clients; X-Accel-Expires here
{_proxy(s, "/live/$sp/t/$seat.$exp.$tok/renewal")}""")


def _entry(s: EdgeSettings) -> str:
    return _location(
        "the entry URL (the details' playlist_url): a join, answered by a 302 to a ticket",
        f'~ "^/live/(?<sp>{SPACE})/master\\.m3u8$"',
        # players have their own start budget per address (ffmpeg and VLC never retry a 429,
        # and a household or an office starts together); the network's join budget still holds
        f"            set $space $sp;\n"
        f"            limit_req zone=start_addr burst={s.player_starts_burst_per_address}"
        " nodelay;\n"
        f"            limit_req zone=join_net burst={s.join_burst_per_network} nodelay;\n"
        f"{_cors(s.cors_origins)}{_proxy(s)}")


def _live_rest(s: EdgeSettings) -> str:
    return _location("anything else under /live is ticketless or malformed: never reaches "
                     "an origin", "/live/", "            return 403;")


def _join(s: EdgeSettings) -> str:
    return _location("", f'~ "^/api/spaces/(?<sp>{SPACE})/join$"',
                     f"            set $space $sp;\n{_join_limits(s)}\n{_proxy(s)}")


def _details(s: EdgeSettings) -> str:
    return _location(
        "details documents: cached briefly, served stale while the origin is busy or down",
        f'~ "^/api/spaces/(?<sp>{SPACE})$"',
        f"""            set $space $sp;
{_api_limit(s)}
            proxy_cache_key "$uri";
{_cache(s)}
{_cors(s.cors_origins)}{_proxy(s, "$uri")}
{DETAILS_GZIP}""")


def _admit(s: EdgeSettings) -> str:
    return _location(
        "joins with a grant: any origin admits them ($space stays empty: spread over all)",
        f'~ "^/api/admit/{SPACE}$"', f"{_join_limits(s)}\n{_proxy(s)}")


def _space_api(s: EdgeSettings) -> str:
    return _location("everything else about one space (host, end, leave, reactions, stage)",
                     f'~ "^/api/spaces/(?<sp>{SPACE})/"',
                     f"            set $space $sp;\n{_api_limit(s)}\n{_proxy(s)}")


def _api(s: EdgeSettings) -> str:
    return _location("", "/api/", f"{_api_limit(s)}\n{_proxy(s)}")


def _whip(s: EdgeSettings) -> str:
    return _location(
        "speakers publish to the space's origin of the moment (WHIP offers, session DELETEs)",
        f'~ "^/whip/(?<sp>{SPACE})(/|$)"',
        f"            set $space $sp;\n            client_max_body_size 64k;\n{_proxy(s)}")


def _ingest(s: EdgeSettings) -> str:
    return _ingest_location(s, _proxy(s)).removesuffix("\n")


def _clip_by_time(s: EdgeSettings) -> str:
    """`clip?from=S&to=S` answers a 302 that depends on its query: cached with the query in
    its key, and only in its one spelling (`from=2.5&to=5`, not `to=5&from=2.50`), so one
    clip is one key and one origin request."""
    return _location(
        "a clip by time: its 302 depends on the query, so the query is in the key, canonical",
        f'~ "^/replay/(?<sp>{SPACE})/clip$"',
        f"""            set $space $sp;
            default_type application/json;
            if ($args !~ "^from={SECONDS}&to={SECONDS}$") {{
                return 400 '{BAD_CLIP_QUERY}';
            }}
            proxy_cache_key "$uri?$args";
{_cache(s)}
{_cors(s.cors_origins)}{_proxy(s)}""")


def _record_misspelled(s: EdgeSettings) -> str:
    return _location(
        "numbered replay and record files in their one spelling only (`clip/7-9.m4a`, not\n"
        "`clip/07-9.m4a`): each other spelling would be signed and cached anew",
        f'~ "^/replay/{SPACE}/(clip/(?!{SEGMENT_NUMBER}-{SEGMENT_NUMBER}\\.m4a$)'
        f'|seg/(?!{SEGMENT_NUMBER}\\.m4s$))|^/record/{SPACE}/checkpoints/'
        f'(?!({SEGMENT_NUMBER}|latest)\\.json$)"',
        "            default_type application/json;\n"
        "            add_header Cache-Control no-store always;\n"
        f"            return 400 '{BAD_RECORD_PATH}';")


def _public(s: EdgeSettings, comment: str, match: str, *, gzip: bool = False) -> str:
    """A public, cached location of one space: stale allowed, keyed by the path alone, and
    the origin is asked for the path alone: an answer keyed without a query can never
    depend on one (the match admits no character that `$uri` would need escaped). With
    `gzip` (the replay playlist) the key also holds the one encoding asked of the origin, as
    for the live playlists: two entries, whatever the client's Accept-Encoding says."""
    key, encoding = "$uri", ""
    if gzip:
        key = "$uri$townhall_gzip"
        encoding = ("\n            proxy_set_header Accept-Encoding $townhall_gzip;"
                    "\n            proxy_ignore_headers Vary;  # the key holds the encoding")
    return _location(comment, match, f"""            set $space $sp;
            proxy_cache_key "{key}";
{_cache(s)}
{_cors(s.cors_origins)}{_proxy(s, "$uri")}{encoding}""")


def _signing_key(s: EdgeSettings) -> str:
    return _location(
        "the signing key: cached, with CORS like the record (a verifier page elsewhere)",
        "= /.well-known/townhall-signing.json",
        f'            proxy_cache_key "$uri";\n{_cache(s)}\n'
        f'{_cors(s.cors_origins)}{_proxy(s, "$uri")}')


N = SEGMENT_NUMBER


def _replays(s: EdgeSettings) -> str:
    return _public(s, "replays (townhall.web.media, signed_replay): cached, stale allowed",
                   f'~ "^/replay/(?<sp>{SPACE})(\\.m4a|/(media\\.m3u8|init\\.mp4|'
                   f'manifest\\.json|seg/{N}\\.m4s|clip/{N}-{N}\\.m4a))$"', gzip=True)


def _records(s: EdgeSettings) -> str:
    return _public(s, "the signed record (townhall.web.public_record): cached, stale allowed",
                   f'~ "^/record/(?<sp>{SPACE})(/(manifest\\.json|checkpoints\\.json|'
                   f'checkpoints/({N}|latest)\\.json))?$"')


def _space_pages(s: EdgeSettings) -> str:
    return _public(s, "space pages: cached, stale allowed",
                   f'~ "^/spaces/(?<sp>{SPACE})(/(host|speak))?$"')


def _public_unknown(s: EdgeSettings) -> str:
    return _location(
        "any other path under a space's public prefixes names nothing an origin serves:\n"
        "answered here, so made-up paths are neither cache keys nor origin requests",
        '~ "^/(replay|record|spaces)/"',
        "            default_type application/json;\n"
        "            add_header Cache-Control no-store always;\n"
        f"            return 404 '{NO_SUCH_PATH}';")


def _docs(s: EdgeSettings) -> str:
    return _location("", "/docs", _proxy(s))


def _openapi(s: EdgeSettings) -> str:
    return _location("", "/openapi.json", _proxy(s))


def _oembed(s: EdgeSettings) -> str:
    """`/oembed?url=...` answers by its query: never cached here (no key could hold every
    spelling of a URL), and rate-limited per address like the API."""
    return _location("oEmbed: its answer depends on the query, so it is never cached here",
                     "= /oembed", f"{_api_limit(s)}\n{_proxy(s)}")


def _pages(s: EdgeSettings) -> str:
    """Pages and static files answer by their path alone (a page reads its query in the
    browser): keyed by the path, and the origin is asked for the path alone, escaped by nginx
    (`rewrite ... $uri?` drops the query), so a made-up query never reaches an origin, even for
    an answer it will not let the edge cache (issue 18)."""
    return _location("pages and static files: cached, stale allowed; the query never reaches "
                     "an origin", "/",
                     '            rewrite ^ $uri? break;\n'
                     f'            proxy_cache_key "$uri";\n{_cache(s)}\n{_proxy(s)}')


# the server's locations, in the order nginx is given them (regex locations match in order)
LOCATIONS = (_edge_status, _operator_routes, _live_parts, _live_tickets, _live_misspelled,
             _grace, _grace_part, _renewal, _entry,
             _live_rest, _join, _details, _admit, _space_api, _api, _whip, _ingest,
             _clip_by_time, _record_misspelled, _replays, _records, _space_pages,
             _public_unknown, _signing_key, _docs, _openapi, _oembed, _pages)

ERRORS: tuple[tuple[str, int, str, str, bool], ...] = (
          ("bad_query", 400, "non_canonical_query", "HLS directives are _HLS_msn, _HLS_part "
           "and _HLS_skip, each once, numbers without sign or leading zeros", False),
          ("forbidden", 403, "bad_ticket", "media needs a valid ticket from /join", True),
          ("expired", 403, "ticket_expired", "the ticket lapsed; renew it with /join", True),
          ("seat_gone", 403, "seat_gone", "the ticket lapsed and its seat is gone; open the "
           "playlist_url again to join", False),
          ("limited", 429, "rate_limited", "too many requests; slow down", True),
          ("origin_down", 503, "origin_unavailable", "retry shortly", True))


def render(s: EdgeSettings) -> str:
    """The whole nginx.conf: the template filled with the settings and the locations."""
    origins = parse_origins(s.origins)
    if any(c in s.ticket_secret + s.edge_secret for c in " ;'\"{}$\\"):
        raise ValueError("ticket and edge secrets must be plain tokens")
    locations = ("\n\n".join(block(s) for block in LOCATIONS) + "\n\n"
                 + "".join(_json_error(*e) for e in ERRORS)).removesuffix("\n")
    return TEMPLATE % {
        "user": f"user {s.user};\n" if s.user else "",
        "rlimit": f"worker_rlimit_nofile {s.rlimit_nofile};\n" if s.rlimit_nofile else "",
        "prefix": s.prefix, "worker_connections": s.worker_connections,
        "http_tuning": HTTP_TUNING, "client_timeout_s": s.client_timeout_s,
        "cache_size": s.cache_size, "join_rate_per_address": s.join_rate_per_address,
        "join_rate_per_network": s.join_rate_per_network,
        "seat_log_per_minute": s.seat_log_per_minute,
        "api_rate_per_address": s.api_rate_per_address, "ingest_zones": _ingest_zones(s),
        "hls_query_bad": HLS_QUERY_BAD, "msn": MSN, "part_index": PART_INDEX,
        "upstreams": _upstreams(origins, s),
        "cors_map": _cors_map(s.cors_origins), "listen": s.listen,
        "conn_per_address": s.conn_per_address, "blocking_wait_s": s.blocking_wait_s,
        "locations": locations, "extra_http": "".join(s.extra_http),
    }


def directories(s: EdgeSettings) -> list[str]:
    """Folders under the prefix that nginx expects to exist and to be writable."""
    return [f"{s.prefix}/{d}" for d in
            ("cache", "client_body", "proxy_temp", "fastcgi", "uwsgi", "scgi")]
