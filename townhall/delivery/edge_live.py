"""The edge's locations for live media under a ticket, and the renewal check that lets a
lapsed but genuine ticket play on at the same URLs (townhall.live.joins.player_tickets,
docs/players.md): `secure_link` checks a ticket without asking an origin; an expired one goes
to `grace`, which asks an origin's renewal check once per ticket lifetime (nginx
`auth_request`, cached per ticket) and fetches with the ticket that check gave the edge. Sans-IO.
"""

from __future__ import annotations

from townhall.delivery.edge_blocks import (
    LIVE_FILE,
    PART,
    SPACE,
    TICKET,
    EdgeSettings,
    cache,
    cors,
    location,
    proxy,
)

BAD_LIVE_PATH = ('{"error":"non_canonical_path","detail":"live files are master.m3u8, '
                 'media.m3u8, standard.m3u8, segments.m3u8, init.mp4, seg/MSN.m4s and '
                 'part/MSN.INDEX.m4s, numbers without leading zeros"}')


def live_media(s: EdgeSettings, grace: str = "@grace") -> str:
    """Live media with a ticket: checked here, cached without the ticket in the key; an
    expired but genuine ticket goes to `grace` (the named location `@grace`, or `@grace_part`)."""
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
            if ($townhall_last_second) {{ return 410; }}
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
{live_fetch(s, "$uri?$hls_query")}"""


def live_fetch(s: EdgeSettings, upstream: str) -> str:
    """How live media is cached and fetched, whoever's ticket let it through; `upstream` is
    the path (and directives) the origin is asked for."""
    return f"""\
            # a joining (non-blocking) playlist is keyed by the 100 ms it is asked in, so it is
            # fresh; the encoding the edge asked for is in the key (gzip once at the origin)
            proxy_cache_key "$sp/$rest?$hls_query$townhall_fresh$townhall_gzip";
            # a redirect to a fresh ticket belongs to one listener: never under this key
            proxy_no_cache $upstream_http_location;
{cache(s, live=True)}
{cors(s.cors_origins)}{proxy(s, upstream, pool="$townhall_pool")}
            proxy_set_header Accept-Encoding $townhall_gzip;
            proxy_ignore_headers Vary;  # the key holds the encoding already"""


def live_parts(s: EdgeSettings) -> str:
    return location(
        "live parts: as below, without Cache-Control to the listener (the origin's still\n"
        "rules this cache): a part URL is fetched once per listener and no cache stands\n"
        "between an edge and its listeners, so it would be 39 bytes on every 0.32 s part",
        f'~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>{PART})$"',
        live_media(s, "@grace_part") + "\n            proxy_hide_header Cache-Control;")


def live_tickets(s: EdgeSettings) -> str:
    return location(
        "live media with a ticket: checked here, cached without the ticket in the key",
        f'~ "^/live/(?<sp>{SPACE})/t/{TICKET}/(?<rest>{LIVE_FILE})$"', live_media(s))


def live_misspelled(s: EdgeSettings) -> str:
    return location(
        "any other path under a ticket is a file no origin serves, or a known one misspelled\n"
        "(`part/007.1.m4s`): refused here, never a cache key or an origin request of its own",
        f'~ "^/live/{SPACE}/t/"',
        "            default_type application/json;\n"
        "            add_header Cache-Control no-store always;\n"
        f"            return 400 '{BAD_LIVE_PATH}';")


def grace_body(s: EdgeSettings) -> str:
    return f"""            auth_request /_townhall/renewal;
            auth_request_set $townhall_ticket $upstream_http_x_townhall_ticket;
            recursive_error_pages on;  # reached by an error page: its own apply too
            error_page 403 = @seat_gone;
            error_page 429 = @limited;
            error_page 500 502 504 = @origin_down;
{live_fetch(s, "/live/$sp/t/$townhall_ticket/$rest?$hls_query")}"""


def grace(s: EdgeSettings) -> str:
    return location(
        "an expired but genuine ticket plays on at the URL the player has (Shaka resolves its\n"
        "segments against the first redirect it saw, so a redirect per lapsed ticket became\n"
        "one per segment): while the origin's renewal check says its seat is held, asked once\n"
        "per ticket lifetime (cached per ticket), the media is fetched with the ticket that\n"
        "check gave this edge; once the seat is gone, 403 within a ticket lifetime",
        "@grace", grace_body(s))


def grace_part(s: EdgeSettings) -> str:
    return location("the same for live parts (no Cache-Control to the listener)",
                     "@grace_part",
                     grace_body(s) + "\n            proxy_hide_header Cache-Control;")


def renewal(s: EdgeSettings) -> str:
    """The renewal check behind `@grace`: cached under the expired ticket for as long as the
    origin says (X-Accel-Expires: one ticket lifetime, or as long for a refusal), one origin
    request per ticket at a time (`proxy_cache_lock`); internal, so never a client's URL."""
    return location(
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
{proxy(s, "/live/$sp/t/$seat.$exp.$tok/renewal")}""")
