"""Steady-state and join-storm model of listeners -> edges (-> shields) -> origins. Sans-IO.

What one listener asks for is the player's loop: LL-HLS asks one blocking playlist reload and
one part per part duration (plain HLS: one playlist and one segment per target duration),
polls the details document, and renews its ticket every half ticket lifetime. An edge
collapses identical requests (proxy_cache_lock), so what passes an edge is one fetch per
distinct object per edge, not per listener; a shield tier collapses the edges' fetches
again. Joins and renewals are not cacheable: they go to the origins whatever the edges do.

As deployed (a cluster: equal origins on PostgreSQL and Redis), an edge sends a space's cache
fills to the origin its id hashes to (its "home" while that origin is up; the next one when it
is not). Joins and renewals of a space without a listener cap carry a join grant and go to any
origin, so they spread over all of them; a capped space's go to its hash origin (the cap is
enforced where its seats are). So besides the totals the model reports one space's home-origin
load, and a one-space join storm is admitted at every origin's rate (open) or one origin's
(capped). Each live space's program runs on one origin with a warm standby on another, so a
cluster plans at least `min_origins` (two: one may die) and counts the standbys' replication
CPU (`replication_cores_per_space`, from bench/failover.py). Without a cap, tickets live
longer as the audience grows (as the server does: renewals within a per-space budget).
Capacities come from the benchmarks (`bench/`) of one machine; the outputs are as good as
those numbers, and say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from townhall.admission.waiting_room import renewal_lifetime

# HTTP/1.1 response headers from an nginx edge, measured in Chromium (tests/wire_budget.py):
# 142 bytes on a live part, 219 on a playlist; about 240 on other answers (details).
# HTTP/2's header compression would take most of it away
PART_HEADER_BYTES = 142
PLAYLIST_HEADER_BYTES = 219
HTTP_OVERHEAD_BYTES = 240
FMP4_OVERHEAD = 1.064  # moof/mdat boxes: 164 bytes per 0.32 s part of 64 kb/s audio
# playlists as they cross the wire, gzip-compressed once per publication at the origin:
LL_PLAYLIST_BYTES = 367  # an LL-HLS delta update (measured at the default window)
# the page's hls.js answers every second blocking reload from the preload hint
# (static/hint_reload.js); a stock LL player reloads once per part (1.0)
PAGE_RELOADS_PER_PART = 0.5
STANDARD_PLAYLIST_BYTES = 213  # the standard tier's playlist, whole segments only


@dataclass(frozen=True)
class Player:
    mode: str = "ll"  # "ll" (LL-HLS) or "plain"
    part_s: float = 0.32
    segment_s: float = 2.24
    playlist_bytes: int = LL_PLAYLIST_BYTES  # one playlist response's body on the wire
    reloads_per_part: float = PAGE_RELOADS_PER_PART  # LL playlist requests per part
    details_poll_s: float = 2.0  # the page polls the details document this often
    ticket_ttl_s: float = 120.0  # renewed at half of it (the shortest lifetime)
    ticket_ttl_max_s: float = 120.0  # the longest, for a big uncapped audience
    renewals_per_s_per_space: float = math.inf  # the server's budget (inf: fixed lifetime)

    def ticket_ttl(self, listeners: float) -> float:
        """The lifetime the server grants at this audience (see WaitingRoom)."""
        return renewal_lifetime(listeners, self.ticket_ttl_s, self.ticket_ttl_max_s,
                                self.renewals_per_s_per_space)

    def requests_per_s(self, listeners: float = 0) -> dict[str, float]:
        """What one listener asks its edge for, per second, by kind, in an audience of
        `listeners` (the ticket lifetime depends on it)."""
        if self.mode == "ll":
            media = {"playlist": self.reloads_per_part / self.part_s, "part": 1 / self.part_s}
        elif self.mode == "plain":
            media = {"playlist": 1 / self.segment_s, "segment": 1 / self.segment_s}
        else:
            raise ValueError("player mode is 'll' or 'plain'")
        details = 0.0 if math.isinf(self.details_poll_s) else 1 / self.details_poll_s
        return {**media, "details": details, "renew": 2 / self.ticket_ttl(listeners)}

    def distinct_objects_per_s(self) -> dict[str, float]:
        """Distinct cacheable objects per second (what one collapsing cache fetches upstream)."""
        if self.mode == "ll":
            # each part has one blocking playlist version and one part object
            media = {"playlist": 1 / self.part_s, "part": 1 / self.part_s}
        else:
            media = {"playlist": 1.0, "segment": 1 / self.segment_s}  # playlist max-age 1 s
        # details max-age 1 s: one fill per edge per second, if anyone polls at all
        return {**media, "details": 0.0 if math.isinf(self.details_poll_s) else 1.0}


# the measured capacities (requests/s) the model sizes with when given none: written by
# bench/capacities.py with the machine and date it measured them on, never typed in here
DEFAULT_CAPACITIES = Path(__file__).with_name("capacities.json")


@dataclass(frozen=True)
class Capacities:
    """Per-node limits. The measured ones come from the benchmarks (`Capacities.measured`
    reads bench/capacities.py's file); the rest describe the machines deployed."""

    edge_requests_per_s_per_core: float  # one nginx worker core, LL-HLS (bench/edge_scale.py)
    origin_requests_per_s: float  # joins/renewals and edge fills, one process (join_capacity)
    shield_requests_per_s: float  # one shield node (an nginx worker core that edges fill from)
    origin_joins_per_s: float  # joins/s one origin answers in full (bench/join_capacity.py)
    edge_cores: int = 16  # nginx workers of one edge machine
    edge_requests_per_s: float | None = None  # one edge; None: per core x cores
    edge_egress_gbps: float = 10.0
    min_origins: int = 2  # a live program's holder and its warm standby (any one may die)
    replication_cores_per_space: float = 0.013  # one standby following one live space:
    # 0.0095 core for the standby and 0.0035 for Redis (bench/failover.py, 64 kbit/s)

    @classmethod
    def measured(cls, path: Path | None = None, **overrides: Any) -> Capacities:
        """The capacities in `path` (default: DEFAULT_CAPACITIES, bench/capacities.py's
        output), with `overrides` (e.g. the deployment's edge_cores) on top."""
        doc = json.loads((path or DEFAULT_CAPACITIES).read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in doc.items() if k in known}, **overrides})

    @property
    def edge_rps(self) -> float:
        """What one edge machine answers per second."""
        if self.edge_requests_per_s is not None:
            return self.edge_requests_per_s
        return self.edge_requests_per_s_per_core * self.edge_cores


@dataclass(frozen=True)
class Deployment:
    listeners: int
    bitrate_bps: int = 64_000
    player: Player = Player()
    capacities: Capacities = field(default_factory=Capacities.measured)
    edges: int | None = None  # None: as many as the load needs
    shields: int = 0  # 0: edges fetch from the origins directly
    headroom: float = 0.7  # plan nodes to run at this fraction of capacity
    spaces: int = 1  # the audience split evenly over this many spaces (1: one big event)
    capped: bool = False  # a listener cap: joins and renewals stay on the home origin


def _ceil(x: float) -> int:
    return max(1, math.ceil(x - 1e-9))


def steady_state(d: Deployment) -> dict[str, Any]:
    p, c = d.player, d.capacities
    if d.spaces < 1 or d.listeners < 1:
        raise ValueError("need at least one listener and one space")
    per_space = d.listeners / d.spaces
    per_listener = p.requests_per_s(per_space)
    cacheable = {k: v for k, v in per_listener.items() if k != "renew"}
    edge_rps = d.listeners * sum(per_listener.values())  # renewals pass through the edges
    media_bytes = d.bitrate_bps / 8 * FMP4_OVERHEAD
    playlist_bytes = per_listener["playlist"] * (p.playlist_bytes + PLAYLIST_HEADER_BYTES)
    other_bytes = ((per_listener.get("part", 0) + per_listener.get("segment", 0))
                   * PART_HEADER_BYTES
                   + per_listener["details"] * (HTTP_OVERHEAD_BYTES + 900))
    egress_bps = d.listeners * (media_bytes + playlist_bytes + other_bytes) * 8
    edges = d.edges or max(
        _ceil(edge_rps / (c.edge_rps * d.headroom)),
        _ceil(egress_bps / (c.edge_egress_gbps * 1e9 * d.headroom)))
    fills = sum(p.distinct_objects_per_s().values())  # per space: its own objects
    upstream_of_edges = edges * fills * d.spaces
    space_fills = (d.shields or edges) * fills  # what one space's home origin fills
    origin_fill_rps = space_fills * d.spaces
    renew_rps = d.listeners * per_listener["renew"]
    origin_rps = origin_fill_rps + renew_rps
    origins = max(c.min_origins, _ceil(origin_rps / (c.origin_requests_per_s * d.headroom)))
    space_renewals = per_space * per_listener["renew"]
    home_rps = space_fills + (space_renewals if d.capped else space_renewals / origins)
    return {
        "listeners": d.listeners,
        "spaces": d.spaces,
        "player": asdict(p),
        "ticket_ttl_s": round(p.ticket_ttl(per_space)),
        "per_listener_requests_per_s": round(sum(cacheable.values()), 3),
        "edge_requests_per_s": round(edge_rps),
        "edge_egress_gbps": round(egress_bps / 1e9, 2),
        "wire_kbps_per_listener": round(egress_bps / d.listeners / 1000, 1),
        "edges_for_requests": _ceil(edge_rps / (c.edge_rps * d.headroom)),
        "edges_for_egress": _ceil(egress_bps / (c.edge_egress_gbps * 1e9 * d.headroom)),
        "edges": edges,
        "edge_requests_per_s_each": round(edge_rps / edges),
        "shields": d.shields,
        "shield_requests_per_s": round(upstream_of_edges) if d.shields else 0,
        "origin_fill_requests_per_s": round(origin_fill_rps, 1),
        "origin_renewals_per_s": round(renew_rps),
        "origin_requests_per_s": round(origin_rps),
        "origins": origins,
        "standby_replication_cores": round(d.spaces * c.replication_cores_per_space, 2),
        "join_origins": 1 if d.capped else origins,  # origins that admit one space's joins
        "home_origin_requests_per_s": round(home_rps),
        # one space's load on its home origin, in units of one origin's planned capacity:
        # above 1, that origin cannot carry the space however many origins there are
        "home_origin_load": round(home_rps / (c.origin_requests_per_s * d.headroom), 2),
        "collapse_ratio": round(edge_rps / max(origin_fill_rps, 1e-9)),
    }


def join_storm(listeners: int, window_s: float, joins_per_s_capacity: float,
               step_s: float = 1.0) -> dict[str, Any]:
    """Everyone arrives uniformly within `window_s`; the origins admit at their capacity.

    Fluid queue: admitted(t) = min(arrived(t), capacity * t). Returns the admission curve
    and how long the last arrival waits for an answer carrying a ticket or a place.
    """
    if listeners <= 0 or window_s <= 0 or joins_per_s_capacity <= 0:
        raise ValueError("listeners, window and capacity must be positive")
    rate = listeners / window_s
    done_at = max(window_s, listeners / joins_per_s_capacity)
    curve = []
    t = 0.0
    while t <= done_at + step_s:
        arrived = min(listeners, rate * t)
        admitted = min(arrived, joins_per_s_capacity * t)
        curve.append({"t": round(t, 2), "arrived": round(arrived), "answered": round(admitted),
                      "backlog": round(arrived - admitted)})
        t += step_s
    # the k-th arrival (at k / rate) is answered at max(k / rate, k / capacity)
    worst_wait = max(0.0, listeners / joins_per_s_capacity - window_s)
    median_k = listeners / 2
    median_wait = max(0.0, median_k / joins_per_s_capacity - median_k / rate)
    return {"listeners": listeners, "window_s": window_s,
            "join_capacity_per_s": joins_per_s_capacity,
            "all_answered_after_s": round(done_at, 1),
            "median_wait_s": round(median_wait, 1), "worst_wait_s": round(worst_wait, 1),
            "curve": curve}
