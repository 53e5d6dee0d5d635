"""The space lifecycle as a table (in the manner of h11's _state.py).

Rules:
  - A space is created SCHEDULED. It is shown as "delayed" while SCHEDULED past its start.
  - The first decoded audio makes it LIVE; a source reconnecting while LIVE keeps it LIVE.
  - END from SCHEDULED or LIVE makes it ENDED. ENDED is final: ending twice is an error,
    and no source may publish into an ended space.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class Trigger(StrEnum):
    GO_LIVE = "go_live"
    END = "end"


class LifecycleError(Exception):
    """A transition the table does not allow; the message says why."""


TRANSITIONS: dict[tuple[Phase, Trigger], Phase] = {
    (Phase.SCHEDULED, Trigger.GO_LIVE): Phase.LIVE,
    (Phase.LIVE, Trigger.GO_LIVE): Phase.LIVE,
    (Phase.SCHEDULED, Trigger.END): Phase.ENDED,
    (Phase.LIVE, Trigger.END): Phase.ENDED,
}


def next_phase(phase: Phase, trigger: Trigger) -> Phase:
    try:
        return TRANSITIONS[(phase, trigger)]
    except KeyError:
        if phase is Phase.ENDED:
            raise LifecycleError("the space has already ended") from None
        raise LifecycleError(f"cannot {trigger.value} while {phase.value}") from None


def shown_state(phase: Phase, scheduled_start: float | None, now: float) -> str:
    """What listeners see: scheduled, delayed, live or ended."""
    if phase is Phase.SCHEDULED and scheduled_start is not None and now > scheduled_start:
        return "delayed"
    return phase.value
