"""The space lifecycle table, what listeners are shown, and the record helpers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.space.lifecycle import (
    TRANSITIONS,
    LifecycleError,
    Phase,
    Trigger,
    next_phase,
    shown_state,
)
from townhall.space.space_record import (
    ID_RE,
    hash_key,
    iso,
    key_matches,
    new_host_key,
    new_space_id,
    parse_iso,
)

ALLOWED = {
    (Phase.SCHEDULED, Trigger.GO_LIVE): Phase.LIVE,
    (Phase.LIVE, Trigger.GO_LIVE): Phase.LIVE,  # a source reconnecting keeps it live
    (Phase.SCHEDULED, Trigger.END): Phase.ENDED,
    (Phase.LIVE, Trigger.END): Phase.ENDED,
}


@pytest.mark.parametrize(("phase", "trigger"), list(itertools.product(Phase, Trigger)))
def test_every_phase_and_trigger_follows_the_rules(phase: Phase, trigger: Trigger) -> None:
    if (phase, trigger) in ALLOWED:
        assert next_phase(phase, trigger) is ALLOWED[(phase, trigger)]
    else:
        with pytest.raises(LifecycleError):
            next_phase(phase, trigger)


def test_table_has_no_transition_beyond_the_rules() -> None:
    assert TRANSITIONS == ALLOWED


@pytest.mark.parametrize("trigger", list(Trigger))
def test_ended_is_final_and_says_so(trigger: Trigger) -> None:
    with pytest.raises(LifecycleError, match="already ended"):
        next_phase(Phase.ENDED, trigger)


@given(triggers=st.lists(st.sampled_from(list(Trigger)), max_size=10))
def test_no_sequence_of_triggers_leaves_ended(triggers: list[Trigger]) -> None:
    phase = Phase.SCHEDULED
    ended = False
    for trigger in triggers:
        try:
            phase = next_phase(phase, trigger)
        except LifecycleError:
            assert ended
            continue
        ended = ended or phase is Phase.ENDED
        assert phase is (Phase.ENDED if ended else Phase.LIVE if trigger is Trigger.GO_LIVE
                         else phase)


def test_scheduled_space_is_delayed_only_after_its_start() -> None:
    assert shown_state(Phase.SCHEDULED, 1000.0, 999.0) == "scheduled"
    assert shown_state(Phase.SCHEDULED, 1000.0, 1000.0) == "scheduled"
    assert shown_state(Phase.SCHEDULED, 1000.0, 1000.5) == "delayed"
    assert shown_state(Phase.SCHEDULED, None, 1e12) == "scheduled"


@pytest.mark.parametrize("phase", [Phase.LIVE, Phase.ENDED])
def test_live_and_ended_are_shown_as_they_are(phase: Phase) -> None:
    assert shown_state(phase, 1000.0, 5000.0) == phase.value
    assert shown_state(phase, None, 5000.0) == phase.value


# --- record helpers ---


def test_new_space_ids_match_the_id_pattern_and_avoid_lookalikes() -> None:
    ids = {new_space_id() for _ in range(200)}
    assert len(ids) == 200
    for space_id in ids:
        assert ID_RE.match(space_id)
        assert not set(space_id) & set("l01")


def test_host_key_matches_only_its_own_hash() -> None:
    key = new_host_key()
    assert len(key) >= 32
    assert key_matches(key, hash_key(key))
    assert not key_matches(key + "x", hash_key(key))
    assert not key_matches("", hash_key(key))
    assert hash_key(key) != key


@pytest.mark.parametrize(("text", "epoch"), [
    ("2023-11-14T22:13:20Z", 1_700_000_000.0),
    ("2023-11-14T22:13:20+00:00", 1_700_000_000.0),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
    ("2023-11-14T22:13:20", 1_700_000_000.0),  # naive is UTC
])
def test_parse_iso_reads_utc_offsets_and_naive_times(text: str, epoch: float) -> None:
    assert parse_iso(text) == epoch


@pytest.mark.parametrize("text", ["tomorrow", "", "2023-13-01T00:00:00Z"])
def test_parse_iso_rejects_non_dates_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_iso(text)


@given(epoch=st.integers(0, 4_000_000_000))
def test_iso_round_trips_whole_seconds(epoch: int) -> None:
    text = iso(float(epoch))
    assert text is not None and text.endswith("Z")
    assert parse_iso(text) == epoch
    assert iso(None) is None


def test_host_keys_never_start_like_a_command_line_option() -> None:
    # `townhall broadcast --key -abc...` would read the key as a missing value
    keys = [new_host_key() for _ in range(2000)]
    assert all(k[0].isalnum() for k in keys)
    assert len(set(keys)) == len(keys)
