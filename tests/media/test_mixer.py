"""Jitter buffers and the mixer: prebuffer, underrun, ceiling, retire, mute, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.media.mixer import QUIET_DBFS, SILENCE_DBFS, JitterBuffer, Mixer, level_dbfs


def ramp(start: int, n: int) -> np.ndarray:
    """Loud samples whose values name their position (exact in float32), so loss shows."""
    assert start >= 0 and start + n < 2**18
    return (0.25 + np.arange(start, start + n, dtype=np.float64) / 2**20).astype(np.float32)


def quiet(start: int, n: int) -> np.ndarray:
    """Samples far below QUIET_DBFS (a pause between words), also naming their position."""
    return (2.0**-12 + np.arange(start, start + n, dtype=np.float64) / 2**32).astype(np.float32)


def const(v: float, n: int) -> np.ndarray:
    return np.full(n, v, dtype=np.float32)


# --- JitterBuffer ---


@pytest.mark.parametrize(("prebuffer", "ceiling"), [(-1, 10), (10, 10), (10, 5)])
def test_jitter_buffer_needs_prebuffer_below_ceiling(prebuffer: int, ceiling: int) -> None:
    with pytest.raises(ValueError):
        JitterBuffer(prebuffer, ceiling)


def test_jitter_buffer_takes_mono_only() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(0, 10).write(np.zeros((2, 4), dtype=np.float32))


def test_reads_are_silent_until_the_prebuffer_fills() -> None:
    jb = JitterBuffer(prebuffer=100, ceiling=1000)
    jb.write(ramp(1, 60))
    assert not jb.read(10).any()
    assert jb.buffered == 60  # priming reads consume nothing
    jb.write(ramp(61, 40))
    out = jb.read(10)
    np.testing.assert_array_equal(out, ramp(1, 10))
    assert jb.buffered == 90
    assert not jb.priming


def test_underrun_pads_with_zeros_and_primes_again() -> None:
    jb = JitterBuffer(prebuffer=20, ceiling=1000)
    jb.write(ramp(1, 25))
    out = jb.read(30)
    np.testing.assert_array_equal(out[:25], ramp(1, 25))
    assert not out[25:].any()
    assert (jb.underruns, jb.priming, jb.buffered) == (1, True, 0)
    jb.write(ramp(26, 10))  # below the prebuffer again: still silent
    assert not jb.read(5).any()
    jb.write(ramp(36, 10))
    np.testing.assert_array_equal(jb.read(5), ramp(26, 5))


def test_ceiling_keeps_the_newest_audio_at_the_prebuffer_depth() -> None:
    jb = JitterBuffer(prebuffer=50, ceiling=200)
    jb.write(ramp(0, 150))
    jb.write(ramp(150, 100))  # 250 > ceiling
    assert jb.buffered == 50
    assert jb.dropped == 200
    np.testing.assert_array_equal(jb.read(50), ramp(200, 50))


@given(writes=st.lists(st.integers(0, 400), max_size=30), prebuffer=st.integers(0, 300),
       extra=st.integers(1, 500), data=st.data())
def test_buffer_never_exceeds_its_ceiling_and_plays_samples_in_order(
        writes: list[int], prebuffer: int, extra: int, data: st.DataObject) -> None:
    ceiling = prebuffer + extra
    jb = JitterBuffer(prebuffer, ceiling)
    written = 0
    played: list[float] = []
    for n in writes:
        jb.write(ramp(written + 1, n))  # +1: a played zero is padding, never audio
        written += n
        assert 0 <= jb.buffered <= ceiling
        out = jb.read(data.draw(st.integers(1, 300)))
        played += [float(x) for x in out if x != 0]
    # what is played is a strictly increasing subsequence of what was written
    assert played == sorted(set(played))
    assert len(played) + jb.dropped + jb.buffered == written
    assert jb.skipped == 0  # loud audio is never skipped


@given(chunks=st.lists(st.integers(1, 200), min_size=1, max_size=20), n=st.integers(1, 256))
def test_draining_buffer_plays_out_everything_ignoring_the_prebuffer(chunks: list[int],
                                                                     n: int) -> None:
    jb = JitterBuffer(prebuffer=10_000, ceiling=100_000)
    total = 0
    for c in chunks:
        jb.write(ramp(total + 1, c))
        total += c
    jb.draining = True
    out = np.concatenate([jb.read(n) for _ in range(math.ceil(total / n))])
    np.testing.assert_array_equal(out[:total], ramp(1, total))
    assert jb.buffered == 0


# --- shedding latency in pauses ---


def test_test_signals_sit_on_either_side_of_the_quiet_threshold() -> None:
    assert level_dbfs(quiet(10**5, 64)) < QUIET_DBFS < level_dbfs(ramp(0, 64))


def test_quiet_blocks_beyond_the_prebuffer_are_skipped() -> None:
    jb = JitterBuffer(prebuffer=100, ceiling=10_000)
    jb.write(np.concatenate([ramp(0, 100), quiet(0, 300), ramp(100, 200)]))  # a 600 burst
    np.testing.assert_array_equal(jb.read(100), ramp(0, 100))
    # three quiet blocks queued, 300 samples of latency beyond the prebuffer: all shed
    np.testing.assert_array_equal(jb.read(100), ramp(100, 100))
    assert (jb.skipped, jb.buffered) == (300, 100)
    np.testing.assert_array_equal(jb.read(100), ramp(200, 100))


def test_quiet_block_is_played_when_skipping_would_eat_into_the_prebuffer() -> None:
    jb = JitterBuffer(prebuffer=100, ceiling=10_000)
    jb.write(np.concatenate([quiet(0, 100), ramp(0, 150)]))
    np.testing.assert_array_equal(jb.read(100), quiet(0, 100))  # 150 left < 100 + 100
    assert jb.skipped == 0


def test_speech_is_never_skipped_even_far_beyond_the_prebuffer() -> None:
    jb = JitterBuffer(prebuffer=0, ceiling=100_000)
    jb.write(ramp(0, 5000))
    out = np.concatenate([jb.read(100) for _ in range(50)])
    np.testing.assert_array_equal(out, ramp(0, 5000))
    assert jb.skipped == 0


def test_draining_buffer_plays_quiet_blocks_too() -> None:
    jb = JitterBuffer(prebuffer=0, ceiling=100_000)
    jb.write(np.concatenate([quiet(0, 300), ramp(0, 100)]))
    jb.draining = True
    out = np.concatenate([jb.read(100) for _ in range(4)])
    np.testing.assert_array_equal(out, np.concatenate([quiet(0, 300), ramp(0, 100)]))
    assert jb.skipped == 0


@given(blocks=st.lists(st.booleans(), max_size=40), prebuffer=st.integers(0, 400),
       reads=st.lists(st.integers(0, 3), max_size=60))
def test_skipping_sheds_only_whole_quiet_blocks_and_never_below_the_prebuffer(
        blocks: list[bool], prebuffer: int, reads: list[int]) -> None:
    n = 64
    jb = JitterBuffer(prebuffer, ceiling=10**6)
    loud_in: list[float] = []
    quiet_in: list[float] = []
    for i, loud in enumerate(blocks):
        block = ramp(i * n, n) if loud else quiet(i * n, n)
        (loud_in if loud else quiet_in).extend(block.tolist())
        jb.write(block)
    played: list[float] = []
    for writes_between in reads:
        before = jb.buffered
        skipped = jb.skipped
        out = jb.read(n)
        if jb.skipped > skipped:
            assert jb.buffered >= prebuffer
            assert before - jb.buffered == jb.skipped - skipped + n
        played += [float(x) for x in out if x != 0]
        for _ in range(writes_between):  # more quiet arrives while playing
            extra = quiet(len(quiet_in) + 10**5, n)
            quiet_in.extend(extra.tolist())
            jb.write(extra)
    jb.draining = True  # play out the rest; draining never skips
    while jb.buffered:
        played += [float(x) for x in jb.read(n) if x != 0]
    assert jb.skipped % n == 0
    assert [x for x in played if x >= 0.25] == loud_in  # every loud sample, in order
    quiet_played = [x for x in played if x < 0.25]
    assert quiet_played == sorted(quiet_played)
    assert set(quiet_played) <= set(quiet_in)
    assert len(played) + jb.skipped == len(loud_in) + len(quiet_in)


# --- level ---


def test_level_of_silence_is_the_floor() -> None:
    assert level_dbfs(np.zeros(0, dtype=np.float32)) == SILENCE_DBFS
    assert level_dbfs(np.zeros(480, dtype=np.float32)) == SILENCE_DBFS
    assert level_dbfs(const(1e-9, 480)) == SILENCE_DBFS


def test_level_is_rms_in_dbfs() -> None:
    assert level_dbfs(const(1.0, 480)) == pytest.approx(0.0)
    assert level_dbfs(const(-0.5, 480)) == pytest.approx(-6.0206, abs=1e-3)
    sine = np.sin(2 * np.pi * np.arange(4800) / 48).astype(np.float32)
    assert level_dbfs(sine) == pytest.approx(-3.0103, abs=1e-2)


# --- Mixer ---


def test_mix_is_the_sum_of_sources_clipped_to_full_scale() -> None:
    mixer = Mixer(prebuffer=0, ceiling=10_000)
    for name in ("a", "b", "c"):
        mixer.add_source(name)
    mixer.write("a", np.concatenate([const(0.25, 50), const(0.25, 50), const(-0.5, 50)]))
    mixer.write("b", np.concatenate([const(0.5, 50), const(0.5, 50), const(-0.25, 50)]))
    mixer.write("c", np.concatenate([const(0.1, 50), const(0.9, 50), const(-3.0, 50)]))
    np.testing.assert_allclose(mixer.pull(50), 0.85)
    np.testing.assert_array_equal(mixer.pull(50), const(1.0, 50))  # 1.65 clipped
    np.testing.assert_array_equal(mixer.pull(50), const(-1.0, 50))  # -3.75 clipped


@given(values=st.lists(st.floats(-4, 4, width=32), min_size=1, max_size=6))
def test_mix_never_leaves_full_scale(values: list[float]) -> None:
    mixer = Mixer(prebuffer=0, ceiling=1000)
    for i, v in enumerate(values):
        mixer.add_source(str(i))
        mixer.write(str(i), const(v, 64))
    out = mixer.pull(64)
    assert out.dtype == np.float32
    assert float(out.max()) <= 1.0 and float(out.min()) >= -1.0
    assert out[0] == pytest.approx(max(-1.0, min(1.0, sum(values))), abs=1e-5)


def test_muted_source_is_consumed_and_metered_but_not_heard() -> None:
    mixer = Mixer(prebuffer=0, ceiling=10_000)
    mixer.add_source("loud")
    mixer.add_source("quiet")
    mixer.write("loud", const(0.5, 200))
    mixer.write("quiet", const(0.1, 200))
    mixer.sources["loud"].muted = True
    np.testing.assert_allclose(mixer.pull(100), 0.1)
    assert mixer.sources["loud"].level_dbfs == pytest.approx(20 * math.log10(0.5), abs=1e-3)
    assert mixer.sources["loud"].buffer.buffered == 100
    mixer.sources["loud"].muted = False
    np.testing.assert_allclose(mixer.pull(100), 0.6)


def test_source_is_silent_while_priming() -> None:
    mixer = Mixer(prebuffer=300, ceiling=3000)
    mixer.add_source("a")
    mixer.write("a", const(0.5, 200))
    assert not mixer.pull(100).any()
    assert mixer.sources["a"].level_dbfs == SILENCE_DBFS
    mixer.write("a", const(0.5, 200))
    np.testing.assert_allclose(mixer.pull(100), 0.5)


def test_retire_plays_out_buffered_audio_then_removes_the_source() -> None:
    mixer = Mixer(prebuffer=1000, ceiling=10_000)
    mixer.add_source("guest")
    mixer.write("guest", ramp(1, 250))  # below the prebuffer: not yet heard
    mixer.retire("guest")
    assert "guest" in mixer.sources
    np.testing.assert_array_equal(mixer.pull(100), ramp(1, 100))
    np.testing.assert_array_equal(mixer.pull(100), ramp(101, 100))
    last = mixer.pull(100)
    np.testing.assert_array_equal(last[:50], ramp(201, 50))
    assert not last[50:].any()
    assert "guest" not in mixer.sources
    assert not mixer.pull(100).any()


def test_retire_of_an_empty_source_removes_it_at_once() -> None:
    mixer = Mixer(prebuffer=10, ceiling=100)
    mixer.add_source("a")
    mixer.retire("a")
    assert "a" not in mixer.sources
    mixer.retire("a")  # retiring twice, or an unknown source, is harmless
    mixer.retire("nobody")


def test_writes_to_unknown_or_removed_sources_are_ignored() -> None:
    mixer = Mixer(prebuffer=0, ceiling=100)
    mixer.write("ghost", const(0.5, 10))
    mixer.add_source("a")
    mixer.remove_source("a")
    mixer.write("a", const(0.5, 10))
    assert mixer.sources == {}
    assert not mixer.pull(10).any()


def test_a_source_name_is_mixed_once() -> None:
    mixer = Mixer(prebuffer=0, ceiling=100)
    mixer.add_source("a")
    with pytest.raises(ValueError):
        mixer.add_source("a")


# --- paced sources (HTTP push): held back by their producer, never trimmed ---


def test_a_paced_buffer_keeps_a_burst_of_several_seconds_whole() -> None:
    jb = JitterBuffer(prebuffer=100, ceiling=6000, high=5000)
    jb.write(ramp(0, 4900))
    assert jb.headroom() == 100
    jb.write(ramp(4900, 200))  # past `high`: the producer should wait, nothing is lost
    assert jb.headroom() <= 0 and jb.dropped == 0
    out = np.concatenate([jb.read(100) for _ in range(51)])
    np.testing.assert_array_equal(out, ramp(0, 5100))


def test_a_paced_buffer_drops_only_the_overshoot_past_its_ceiling_and_counts_it() -> None:
    jb = JitterBuffer(prebuffer=100, ceiling=1000, high=500)
    jb.write(ramp(0, 1200))
    assert (jb.buffered, jb.dropped) == (1000, 200)
    np.testing.assert_array_equal(jb.read(1000), ramp(200, 1000))


def test_a_paced_source_running_ahead_has_its_quiet_kept() -> None:
    jb = JitterBuffer(prebuffer=100, ceiling=20_000, high=10_000)
    played = 0
    for i in range(100):  # a producer that refills to `high` after every read
        jb.write(quiet(i, 10_000 - jb.buffered) if i % 2 else ramp(0, 10_000 - jb.buffered))
        played += len(jb.read(1000))
    assert jb.skipped == 0 and jb.dropped == 0


def test_a_paced_source_with_a_standing_backlog_sheds_it_in_pauses() -> None:
    n = 960
    jb = JitterBuffer(prebuffer=n, ceiling=400_000, high=300_000)
    jb.write(ramp(0, 10 * n))
    for i in range(400):  # real time after a start-up burst: one block in, one block out
        jb.write(quiet(0, n) if (i // 20) % 2 else ramp(0, n))
        jb.read(n)
    assert jb.skipped > 0
    assert jb.buffered < 10 * n


def test_a_bursty_paced_source_is_never_shed() -> None:
    n = 960
    jb = JitterBuffer(prebuffer=n, ceiling=400_000, high=300_000)
    for second in range(20):  # 1 s of audio in one burst, then 50 reads of 20 ms
        jb.write(quiet(0, 50 * n) if second % 2 else ramp(0, 50 * n))
        for _ in range(50):
            jb.read(n)
    assert jb.skipped == 0 and jb.dropped == 0


def test_a_never_quiet_paced_source_with_a_standing_backlog_catches_up_by_playing_faster(
        ) -> None:
    n = 960
    jb = JitterBuffer(prebuffer=n, ceiling=400_000, high=300_000, catch_up=0.03)
    jb.write(ramp(0, 25 * n))  # a start-up burst of 0.5 s, then real time, never quiet
    out = []
    for _ in range(1500):  # 30 s
        jb.write(ramp(0, n))
        out.append(jb.read(n))
    assert jb.skipped == 0 and jb.dropped == 0
    assert jb.caught_up >= 20 * n  # most of the backlog is gone...
    assert jb.buffered <= 4 * n  # ...down to about the prebuffer (and never below it)
    assert min(float(b.min()) for b in out[100:]) >= 0.25  # no gap: every block is audio


def test_catching_up_never_speeds_a_source_that_runs_ahead_or_comes_in_bursts() -> None:
    n = 960
    ahead = JitterBuffer(prebuffer=100, ceiling=20_000, high=10_000, catch_up=0.03)
    bursty = JitterBuffer(prebuffer=n, ceiling=400_000, high=300_000, catch_up=0.03)
    for _ in range(20):
        bursty.write(ramp(0, 50 * n))
        for _block in range(50):
            ahead.write(ramp(0, 10_000 - ahead.buffered))  # refills to `high` every read
            ahead.read(n)
            bursty.read(n)
    assert ahead.caught_up == 0 and bursty.caught_up == 0


def test_the_mixer_speeds_up_only_paced_sources() -> None:
    mixer = Mixer(prebuffer=0, ceiling=10_000, catch_up=0.03)
    assert mixer.add_source("push", high=5000).catch_up == 0.03
    assert mixer.add_source("speaker").catch_up == 0.0


def test_catching_up_keeps_the_pitch_of_a_tone() -> None:
    rate, n = 48_000, 1024
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(60 * rate) / rate)).astype(np.float32)
    jb = JitterBuffer(prebuffer=n, ceiling=400_000, high=300_000, catch_up=0.03)
    jb.write(tone[:25 * n])  # a start-up burst, then real time
    at, out = 25 * n, []
    for _ in range(1200):
        jb.write(tone[at:at + n])
        at += n
        out.append(jb.read(n))
    assert jb.caught_up >= 15 * n and jb.dropped == 0
    played = np.concatenate(out[-600:])  # while and after it caught up
    spectrum = np.abs(np.fft.rfft(played * np.hanning(len(played))))
    peak = float(np.fft.rfftfreq(len(played), 1 / rate)[int(np.argmax(spectrum))])
    assert abs(peak - 1000) < 2, peak
    # no click where it was cut: consecutive samples never jump more than the tone does
    assert float(np.max(np.abs(np.diff(np.concatenate(out))))) < 0.5 * 2 * np.pi * 1000 / rate * 1.5
