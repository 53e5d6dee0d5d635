"""How a simulated listener reads the origin's answers to `POST /api/spaces/<id>/join`.

Sans-IO: turns (status, JSON body, Retry-After) into the listener's next step: play with a
ticket, wait in line and poll, solve a proof of work, retry later, or give up. Also the
retry delay: Retry-After honoured (never sooner) with jitter so a crowd does not return in
lockstep. Never sends anything and never sleeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class Admitted:
    ticket: str
    playlist_path: str  # path of the master playlist; the host is the target's, not the URL's
    renew_after_s: float
    seat_secret: str = ""  # proves the seat on renew and leave


@dataclass(frozen=True)
class Wait:
    token: str
    position: int
    poll_after_s: float


@dataclass(frozen=True)
class Solve:
    challenge: str
    difficulty: int


@dataclass(frozen=True)
class RetryLater:
    after_s: float | None  # Retry-After, when the origin gave one
    reason: str  # error kind, e.g. "join:429"


@dataclass(frozen=True)
class GiveUp:
    reason: str  # error kind, e.g. "join:409"
    rejoin: bool  # the place or ticket is gone but joining afresh may work


JoinStep = Admitted | Wait | Solve | RetryLater | GiveUp


def playlist_path(url: str) -> str:
    """The path (and query) of an advertised playlist URL: we go to our target, whatever host
    the origin names (it may advertise its own base URL while we go through an edge)."""
    parts = urlsplit(url)
    if not parts.path.startswith("/"):
        raise ValueError(f"playlist URL without a path: {url!r}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def read_join(status: int, body: Any, retry_after: float | None) -> JoinStep:
    doc: dict[str, Any] = body if isinstance(body, dict) else {}
    try:
        if status == 200 and doc.get("status") == "admitted":
            return Admitted(str(doc["ticket"]), playlist_path(str(doc["playlist_url"])),
                            float(doc.get("renew_after_s", 60.0)),
                            str(doc.get("seat_secret", "")))
        if status == 202 and doc.get("status") == "waiting":
            return Wait(str(doc["token"]), int(doc.get("position", 0)),
                        float(doc.get("poll_after_s", 1.0)))
        if status == 428 and "challenge" in doc:
            return Solve(str(doc["challenge"]), int(doc.get("difficulty", 0)))
    except (KeyError, TypeError, ValueError):
        return RetryLater(retry_after, f"join:{status}:malformed")
    if status in (429, 503):
        return RetryLater(retry_after, f"join:{status}")
    if status == 409:
        return GiveUp("join:409", rejoin=False)  # the space has ended
    if status == 403 or (status == 404 and doc.get("error") == "not_in_queue"):
        return GiveUp(f"join:{status}", rejoin=True)  # a bad ticket to renew, a lapsed place
    if status >= 500:
        return RetryLater(retry_after, f"join:{status}")
    return GiveUp(f"join:{status}", rejoin=False)


def retry_delay(after_s: float | None, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1-based): at least Retry-After, plus up
    to half of it again; without one, capped exponential backoff with jitter."""
    if after_s is not None:
        return after_s * rng.uniform(1.0, 1.5)
    return min(MAX_BACKOFF_S, 0.5 * 2.0 ** max(0, attempt - 1)) * rng.uniform(0.5, 1.0)
