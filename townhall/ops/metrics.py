"""Every Prometheus metric a townhall process exports, defined here and nowhere else.

Two kinds. Metrics that code sets as things happen are module-level objects (import and
`.labels(space).set(...)` / `.inc()`): add new ones below, with a unit in the name. Metrics
that already exist as state (listeners, admission counters, shedding, each program's lag and
recording) are read when Prometheus scrapes, by `Snapshot`, so nothing is counted twice and
the hot paths pay nothing. Served at /metrics (web/health.py). Per-space labels exist only
for spaces that are live on this origin, so the label set stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

# --- set by the cluster's services (leases, standby replication): one origin holds a space's
# program; its standby follows it this far behind ---
LEASE_HELD = Gauge("townhall_lease_held", "1 while this origin holds the space's program lease",
                   ["space"], registry=REGISTRY)
REPLICATION_LAG = Gauge("townhall_replication_lag_seconds",
                        "how far this origin's standby copy of a space is behind its program",
                        ["space"], registry=REGISTRY)
# --- the part stream's durability (cluster.redis_cluster): with replicas, each append waits
# (WAIT 1, bounded by redis_replica_wait_ms) until a replica has it, before it is published ---
REPLICA_WAIT = Histogram("townhall_redis_replica_wait_seconds",
                         "time an append to a part stream took with its wait for a Redis "
                         "replica (the script and WAIT, one round trip)",
                         buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
                         registry=REGISTRY)
REPLICA_WAIT_SHORT = Counter("townhall_redis_replica_wait_short_total",
                             "appends published although no replica confirmed them within "
                             "redis_replica_wait_ms (a Redis failover now could lose them)",
                             registry=REGISTRY)
# --- sources in a cluster (live.speakers, live.source_claims): a source heard nowhere is
# ended, counted here and logged, and reconnects through the edge; never silently unheard ---
SOURCES_MOVED = Counter("townhall_sources_moved_total",
                        "speakers and push sources ended because their space's program runs "
                        "on another origin (they reconnect through the edge)", ["kind"],
                        registry=REGISTRY)
SOURCES_TAKEN_OVER = Counter("townhall_sources_taken_over_total",
                             "push sources cut off (409) by a newer source of the same space "
                             "on another origin", registry=REGISTRY)
SOURCES_RELAYED = Counter("townhall_sources_relayed_total",
                          "push sources on the ingest port relayed through the edge, by how "
                          "they ended (ok or the error code answered)", ["outcome"],
                          registry=REGISTRY)
SOURCES_RELAYING = Gauge("townhall_sources_relaying",
                         "push sources on this origin's ingest port being relayed through the "
                         "edge now", registry=REGISTRY)
# --- refusals at the ingest edges (ingest.icecast, ingest.whip): what an outsider was
# refused or evicted, by reason; never silent ---
INGEST_REFUSED = Counter("townhall_ingest_refused_total",
                         "ingest-port connections refused or evicted, by reason (pool_full, "
                         "address_share, head_timeout, evicted_idle, an error code)", ["reason"],
                         registry=REGISTRY)
WHIP_OFFERS_REFUSED = Counter("townhall_whip_offers_refused_total",
                              "WHIP offers refused by the candidate screen, by reason",
                              ["reason"], registry=REGISTRY)
WHIP_SESSIONS_REFUSED_AT_AUDIO = Counter(
    "townhall_whip_sessions_refused_at_audio_total",
    "WHIP sessions ended at their first audio: no program slot for the space (a session holds "
    "none until its audio arrives), by reason (origin_full, origin_busy, a quota code)",
    ["reason"], registry=REGISTRY)
WHIP_SESSIONS_EVICTED = Counter(
    "townhall_whip_sessions_evicted_total",
    "WHIP sessions without audio cut off for a newcomer, by reason (evicted_no_audio: the "
    "provisional sources' bound; network_share, pool_full: the WHIP session pool; operator: "
    "the pool was full and the operator's host or speaker arrived)",
    ["reason"], registry=REGISTRY)
WHIP_SESSIONS_REFUSED = Counter(
    "townhall_whip_sessions_refused_total",
    "WHIP offers refused a session: its network holds its share (network_share) or the pool is "
    "full of sessions with audio (whip_full: for anyone but the operator, the slots left are "
    "the operator's reserve)", ["reason"], registry=REGISTRY)
WHIP_SESSIONS = Gauge("townhall_whip_sessions", "WHIP sessions this origin holds, by state "
                      "(provisional: no audio yet)", ["state"], registry=REGISTRY)
WHIP_CANDIDATES_DROPPED = Counter("townhall_whip_candidates_dropped_total",
                                  "remote ICE candidates screened out of WHIP offers (private, "
                                  "loopback, mDNS, non-global)", registry=REGISTRY)
# --- the edges' seats.log, rotated by `townhall serve` itself (live/seat_log.py); `townhall
# tickets rotate` writes the same (without the edge label) to seat_log.prom ---
SEAT_LOG_ROTATIONS = Counter("townhall_seat_log_rotations_total",
                             "rotations of an edge's seats.log (past seat_log_max_bytes)",
                             ["edge"], registry=REGISTRY)
SEAT_LOG_ROTATED_BYTES = Counter("townhall_seat_log_rotated_bytes_total",
                                 "bytes of an edge's seats.log moved aside and compacted into "
                                 "its history", ["edge"], registry=REGISTRY)
SEAT_LOG_RECORDS = Counter("townhall_seat_log_records_total",
                           "seats.log lines at rotation, by fate: dropped (inside the window, "
                           "over the bound), merged (a later line of the same seat and address "
                           "kept), expired (older than the window), malformed",
                           ["edge", "fate"], registry=REGISTRY)
SEAT_LOG_BYTES = Gauge("townhall_seat_log_bytes", "size of an edge's seats.log (file=live) and "
                       "of its compacted history (file=history) at the last look",
                       ["edge", "file"], registry=REGISTRY)
SEAT_LOG_ERRORS = Counter("townhall_seat_log_rotation_errors_total",
                          "rotations of an edge's seats.log that failed (logged; retried at "
                          "the next look)", ["edge"], registry=REGISTRY)
# --- reach (reach/webhooks.py, reach/analytics.py): nothing dropped silently ---
WEBHOOK_ATTEMPTS = Counter("townhall_webhook_attempts_total",
                           "webhook delivery attempts, by outcome (delivered, failed: retried "
                           "later, given_up: past webhook_give_up_s)", ["outcome"],
                           registry=REGISTRY)
WEBHOOK_ANNOUNCEMENTS = Counter("townhall_webhook_announcements_total",
                                "outbox announcements (reach/outbox.py), by outcome (done: "
                                "queued by its announcer, recovered: queued from the stored "
                                "state by another origin or after a restart, void: nothing "
                                "to announce, given up)", ["outcome"], registry=REGISTRY)
ANALYTICS_DROPPED = Counter("townhall_analytics_rows_dropped_total",
                            "analytics rows the store did not take (unreachable)",
                            registry=REGISTRY)
ANALYTICS_UNTRACKED = Counter("townhall_analytics_untracked_total",
                              "listeners (keys) or seats past analytics_max_keys in a space: "
                              "counted as new, not followed for listening time", ["kind"],
                              registry=REGISTRY)
STORE_ERRORS = Counter("townhall_store_unavailable_total",
                       "store calls that found the database unreachable (answered 503 or "
                       "retried)", registry=REGISTRY)

# --- live captions (townhall/captions): the recogniser runs in a process of its own ---
CAPTIONS_UP = Gauge("townhall_captions_worker_up",
                    "1 while this origin's caption recogniser process is running and loaded",
                    registry=REGISTRY)
CAPTIONS_RESTARTS = Counter("townhall_captions_worker_restarts_total",
                            "caption recogniser processes restarted after a crash",
                            registry=REGISTRY)
CAPTIONS_GAP = Counter("townhall_captions_gap_seconds_total",
                       "seconds captions were wanted but no recogniser was running (crash to "
                       "restart)", registry=REGISTRY)
CAPTIONS_DROPPED = Counter("townhall_captions_dropped_audio_seconds_total",
                           "program audio not captioned, by reason (queue_full: the "
                           "recogniser fell behind; no_worker: it was down)", ["reason"],
                           registry=REGISTRY)
CAPTIONS_CUES = Counter("townhall_captions_cues_total", "caption cues recognised",
                        registry=REGISTRY)
CAPTIONS_LATE = Counter("townhall_captions_late_cues_total",
                        "cues recognised after their subtitle segment was published (they "
                        "appear only in the later segments they overlap)", registry=REGISTRY)
CAPTIONS_SHARE_SKIPPED = Counter("townhall_captions_share_skipped_total",
                                 "subtitle segments a cluster origin could not share or take "
                                 "(the cluster away, or too many calls in flight)",
                                 registry=REGISTRY)
CAPTIONS_CPU = Counter("townhall_captions_cpu_seconds_total",
                       "CPU seconds the recogniser process spent", registry=REGISTRY)
CAPTIONS_AUDIO = Counter("townhall_captions_audio_seconds_total",
                         "seconds of program audio the recogniser handled", registry=REGISTRY)


# --- what `Snapshot` reads, by shape: ops sits below the services and imports none of them
# (live.spaces.Spaces, live.admissions.Admissions and store.factory.Stores fit these) ---
class _Phase(Protocol):
    @property
    def value(self) -> str: ...


class _Record(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def phase(self) -> _Phase: ...


class _Recorder(Protocol):
    @property
    def bytes_stored(self) -> int: ...
    @property
    def backlog(self) -> int: ...
    @property
    def write_errors(self) -> int: ...
    @property
    def failed(self) -> object: ...


class _Mixer(Protocol):
    @property
    def dropped(self) -> int: ...


class _Program(Protocol):
    @property
    def ended(self) -> bool: ...
    @property
    def lag_s(self) -> float: ...
    @property
    def recorder(self) -> _Recorder: ...
    @property
    def mixer(self) -> _Mixer: ...


class _Space(Protocol):
    @property
    def record(self) -> _Record: ...
    @property
    def program(self) -> _Program | None: ...


class _Reserve(Protocol):
    @property
    def held(self) -> int: ...
    @property
    def borrowed(self) -> int: ...


class Spaces(Protocol):
    def all(self) -> Iterable[_Space]: ...
    def listeners_now(self, space: Any, now: float) -> int: ...


class Admissions(Protocol):
    def metrics(self, now: float) -> dict[str, Any]: ...


class Stores(Protocol):
    def healthy(self) -> bool: ...


class Snapshot(Collector):
    """Reads the services' own state at scrape time."""

    def __init__(self, spaces: Spaces, admissions: Admissions, stores: Stores,
                 reserve: _Reserve | None = None) -> None:
        self.spaces = spaces
        self.reserve = reserve
        self.admissions = admissions
        self.stores = stores

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        yield from self._admission(now)
        yield from self._spaces(now)
        up = GaugeMetricFamily("townhall_store_up",
                               "1 while the durable store answers (0 during an outage)")
        up.add_metric([], 1.0 if self.stores.healthy() else 0.0)
        yield up

    def _admission(self, now: float) -> Iterator[Metric]:
        m = self.admissions.metrics(now)
        events = CounterMetricFamily("townhall_admission_events",
                                     "joins, renewals, refusals and media checks, by event",
                                     labels=["event"])
        for name, n in sorted(m["counters"].items()):
            events.add_metric([name], float(n))
        yield events
        shed = CounterMetricFamily("townhall_shed_requests",
                                   "requests refused at once (503) to relieve overload, by "
                                   "priority class", labels=["priority"])
        for name, n in m["shed"].items():
            shed.add_metric([name], float(n))
        yield shed
        yield GaugeMetricFamily("townhall_event_loop_lag_seconds",
                                "how late the event loop's periodic timer fires (smoothed)",
                                value=float(m["lag_s"]))
        yield GaugeMetricFamily("townhall_requests_in_flight", "requests being answered",
                                value=float(m["in_flight"]))
        yield GaugeMetricFamily("townhall_attack_mode", "1 while attack mode asks for proof "
                                "of work", value=1.0 if m["attack_mode"]["active"] else 0.0)

    def _spaces(self, now: float) -> Iterator[Metric]:
        states = GaugeMetricFamily("townhall_spaces", "spaces known to this origin, by state",
                                   labels=["state"])
        listeners = GaugeMetricFamily("townhall_listeners", "listeners of a live space",
                                      labels=["space"])
        lag = GaugeMetricFamily("townhall_program_lag_seconds",
                                "how late a space's program clock last ran (mix, encode, "
                                "package)", labels=["space"])
        stored = CounterMetricFamily("townhall_recording_bytes",
                                     "segment bytes of a space's recording made durable in the "
                                     "store by this origin", labels=["space"])
        backlog = GaugeMetricFamily("townhall_recording_backlog_writes",
                                    "recording writes published but not yet durable (grows "
                                    "while the store is unreachable)", labels=["space"])
        write_errors = CounterMetricFamily("townhall_recording_write_errors",
                                           "recording writes that failed (EMFILE, ENOSPC, EIO) "
                                           "and were retried; none is dropped",
                                           labels=["space"])
        failing = GaugeMetricFamily("townhall_recording_failing",
                                    "1 while a space's recording writes keep failing (held in "
                                    "memory, retried)", labels=["space"])
        dropped = CounterMetricFamily("townhall_audio_dropped_samples",
                                      "source samples the mixer discarded because a source ran "
                                      "ahead of its jitter ceiling", labels=["space"])
        counts: dict[str, int] = {}
        for space in self.spaces.all():
            phase = space.record.phase.value
            counts[phase] = counts.get(phase, 0) + 1
            program = space.program
            if program is None or program.ended:
                continue
            sid = [space.record.id]
            listeners.add_metric(sid, float(self.spaces.listeners_now(space, now)))
            lag.add_metric(sid, program.lag_s)
            stored.add_metric(sid, float(program.recorder.bytes_stored))
            backlog.add_metric(sid, float(program.recorder.backlog))
            write_errors.add_metric(sid, float(program.recorder.write_errors))
            failing.add_metric(sid, 1.0 if program.recorder.failed is not None else 0.0)
            dropped.add_metric(sid, float(program.mixer.dropped))
        for phase, n in sorted(counts.items()):
            states.add_metric([phase], float(n))
        yield from (states, listeners, lag, stored, backlog, write_errors, failing, dropped)
        reserve = self.reserve
        yield GaugeMetricFamily("townhall_descriptor_reserve_held",
                                "descriptors held back for recording writes",
                                value=float(reserve.held if reserve else 0))
        yield CounterMetricFamily("townhall_descriptor_reserve_borrowed",
                                  "recording writes that borrowed the descriptor reserve "
                                  "(the table was full)",
                                  value=float(reserve.borrowed if reserve else 0))


_watching: list[Snapshot] = []


def watch(spaces: Spaces, admissions: Admissions, stores: Stores,
          reserve: _Reserve | None = None) -> None:
    """Export this app's services (one app per process; a second replaces the first)."""
    for old in _watching:
        REGISTRY.unregister(old)
    _watching[:] = [Snapshot(spaces, admissions, stores, reserve)]
    REGISTRY.register(_watching[0])
