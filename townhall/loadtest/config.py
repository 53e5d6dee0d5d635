"""Everything a load run is told, in one typed object checked before anything starts.

Every knob has a default and a unit; every count and time has a ceiling, so a run is bounded
in size and in time whatever it is given. The target must be loopback (`safety`). Sans-IO:
`validate()` reads nothing but the object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from townhall.loadtest.addresses import AddressPool
from townhall.loadtest.safety import Target, check_target

ATTACK_PATTERNS = ("join", "details", "random", "ticketless", "forged", "slow")
MODES = ("ll", "plain")
MAX_LISTENERS = 50_000  # per run (one process; file descriptors are the first wall)
MAX_DURATION_S = 3600.0
MAX_ATTACK_RATE = 50_000.0  # requests/s, all patterns together
MAX_SLOW_CONNECTIONS = 10_000


@dataclass(frozen=True)
class LoadConfig:
    target: str  # http://127.x.y.z:PORT or http://[::1]:PORT (an origin or an edge)
    space: str  # space id
    listeners: int = 100
    duration_s: float = 30.0  # the run stops by itself after this long
    join_window_s: float = 0.0  # listener i joins at i/N of this window (a join storm); 0: at once
    mode: str = "ll"  # "ll": LL-HLS parts + blocking reload; "plain": poll, whole segments
    ll_preload: bool = True  # fetch the preload-hinted part alongside the blocking reload
    # --- listener source addresses: 127.<listener_network>.x.y, distinct per listener ---
    listener_network: int = 20
    listener_addresses: int | None = None  # distinct addresses (default: one per listener)
    listeners_per_network: int = 100  # per /24: under the origin's per-network join burst
    bind_sources: bool = True  # False: every socket from the default 127.0.0.1
    # --- timing and bounds of a listener ---
    request_timeout_s: float = 10.0  # media requests (the origin holds a blocking one <= 3 TD)
    join_timeout_s: float = 10.0
    max_join_attempts: int = 30  # joins, polls and retries, per admission
    leave_at_end: bool = True  # give seats back when the run stops
    use_grants: bool = True  # join as the page does: with the details' join grant, if any
    follow_tier: bool = True  # play the latency tier the details announce, as the page does
    # --- attackers (the flood issue's patterns), from 127.<attack_network>.x.y ---
    attacks: tuple[str, ...] = ()
    attack_rate: float = 100.0  # requests/s over all patterns ("slow": connections/s)
    attack_addresses: int = 1016  # distinct sources (4 /24s: 127.10.0.1 .. 127.10.3.254)
    attack_network: int = 10
    attack_concurrency: int = 1000  # attack requests in flight; beyond it a send is skipped
    attack_timeout_s: float = 5.0
    slow_connections: int = 500  # slowloris connections held open at once, at most
    slow_trickle_s: float = 5.0  # one more header line per slow connection this often
    seed: int | None = None  # for jitter and attack randomness (None: random)

    def validate(self) -> Target:
        """The loopback target, or ValueError (NotLoopback for a target off this machine)."""
        target = check_target(self.target)
        if not self.space or "/" in self.space or len(self.space) > 64:
            raise ValueError("space: give the space id (1-64 characters, no '/')")
        if not 0 <= self.listeners <= MAX_LISTENERS:
            raise ValueError(f"listeners must be 0..{MAX_LISTENERS}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be in (0, {MAX_DURATION_S:g}] seconds")
        if not 0 <= self.join_window_s <= self.duration_s:
            raise ValueError("join_window_s must be within 0..duration_s")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        unknown = set(self.attacks) - set(ATTACK_PATTERNS)
        if unknown:
            raise ValueError(f"unknown attack pattern(s) {sorted(unknown)}; known: "
                             f"{', '.join(ATTACK_PATTERNS)}")
        if not 0 < self.attack_rate <= MAX_ATTACK_RATE:
            raise ValueError(f"attack_rate must be in (0, {MAX_ATTACK_RATE:g}] per second")
        if not 0 <= self.slow_connections <= MAX_SLOW_CONNECTIONS:
            raise ValueError(f"slow_connections must be 0..{MAX_SLOW_CONNECTIONS}")
        if self.attack_concurrency < 1 or self.max_join_attempts < 1:
            raise ValueError("attack_concurrency and max_join_attempts must be at least 1")
        for name in ("request_timeout_s", "join_timeout_s", "attack_timeout_s",
                     "slow_trickle_s"):
            if not 0 < getattr(self, name) <= 600:
                raise ValueError(f"{name} must be in (0, 600] seconds")
        if (self.bind_sources or self.attacks) and target.is_ipv6:
            raise ValueError("distinct source addresses need an IPv4 loopback target; "
                             "use bind_sources=False and no attackers with ::1")
        self.listener_pool()
        self.attack_pool()
        return target

    def listener_pool(self) -> AddressPool:
        return AddressPool(self.listener_network, max(1, self.listener_addresses
                                                      or self.listeners),
                           self.listeners_per_network)

    def attack_pool(self) -> AddressPool:
        return AddressPool(self.attack_network, self.attack_addresses)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["attacks"] = list(self.attacks)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadConfig:
        """A config as `to_dict` wrote it (handed to a worker process)."""
        return cls(**{**d, "attacks": tuple(d.get("attacks", ()))})
