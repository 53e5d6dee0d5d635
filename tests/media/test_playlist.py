"""Playlist rendering: the LL-HLS tags a player relies on (rfc8216bis §4.4, §6.2.5)."""

from __future__ import annotations

import math
import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.media.playlist import (
    LowLatency,
    PlaylistSegment,
    format_pdt,
    render_media,
    render_multivariant,
    target_duration,
)

FRAME_S = 1024 / 48000
T0 = 1_700_000_000.0
LL = LowLatency(part_target=0.32, part_hold_back=0.96, parts_window=3 * 2.24)


def attrs(line: str) -> dict[str, str]:
    """Attribute list of a tag line, quotes removed."""
    _, _, body = line.partition(":")
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', body)}


def tag(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + ":") or line == name]


def one(text: str, name: str) -> str:
    found = tag(text, name)
    assert len(found) == 1, f"{name} appears {len(found)} times"
    return found[0]


def value(line: str) -> str:
    return line.partition(":")[2]


def segments(n: int, parts: int = 7, part_s: float = 0.32, first: int = 0,
             last_parts: int | None = None, discontinuities: frozenset[int] = frozenset()
             ) -> list[PlaylistSegment]:
    """n complete segments; if last_parts is given, one more segment in progress."""
    out = [PlaylistSegment(m, T0 + (m - first) * parts * part_s, m in discontinuities,
                           [part_s] * parts, parts * part_s) for m in range(first, first + n)]
    if last_parts is not None:
        m = first + n
        out.append(PlaylistSegment(m, T0 + n * parts * part_s, m in discontinuities,
                                   [part_s] * last_parts))
    return out


def live(segs: list[PlaylistSegment], **kw: object) -> str:
    args: dict[str, object] = {"segment_target": 2.24, "discontinuity_sequence": 0,
                               "ended": False, "low_latency": LL}
    args.update(kw)
    return render_media(segs, **args)  # type: ignore[arg-type]


# --- target duration ---


@pytest.mark.parametrize(("target", "expected"), [
    (0.1, 1), (0.32, 1), (1.49, 1), (1.5, 2), (2.24, 2), (2.5, 3), (6.0, 6), (6.4999, 6)])
def test_target_duration_is_the_rounded_target_and_at_least_one(target: float,
                                                                expected: int) -> None:
    assert target_duration(target) == expected


@given(part_frames=st.integers(1, 60), parts=st.integers(1, 10), data=st.data())
def test_every_extinf_rounded_is_at_most_the_target_duration(part_frames: int, parts: int,
                                                             data: st.DataObject) -> None:
    part_s = part_frames * FRAME_S
    target = part_s * parts
    frame_counts = data.draw(st.lists(st.integers(1, part_frames * parts), min_size=1,
                                      max_size=8))
    segs = [PlaylistSegment(m, T0 + m, False, [n * FRAME_S], n * FRAME_S)
            for m, n in enumerate(frame_counts)]
    text = live(segs, segment_target=target)
    td = int(value(one(text, "#EXT-X-TARGETDURATION")))
    extinfs = [float(value(line).rstrip(",")) for line in tag(text, "#EXTINF")]
    assert len(extinfs) == len(segs)
    for d in extinfs:
        assert math.floor(d + 0.5) <= td


# --- LL-HLS tags ---


def test_live_playlist_announces_parts_and_blocking_reload() -> None:
    text = live(segments(4, last_parts=2))
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:6\n")
    assert text.endswith("\n")
    part_inf = attrs(one(text, "#EXT-X-PART-INF"))
    control = attrs(one(text, "#EXT-X-SERVER-CONTROL"))
    assert float(part_inf["PART-TARGET"]) == pytest.approx(0.32)
    assert control["CAN-BLOCK-RELOAD"] == "YES"
    assert float(control["PART-HOLD-BACK"]) >= 2 * float(part_inf["PART-TARGET"])
    assert float(control["PART-HOLD-BACK"]) == pytest.approx(0.96)
    assert value(one(text, "#EXT-X-MAP")) == 'URI="init.mp4"'


@given(done=st.integers(0, 6), in_progress=st.one_of(st.none(), st.integers(0, 6)),
       first=st.integers(0, 10_000))
def test_preload_hint_points_at_the_next_part(done: int, in_progress: int | None,
                                              first: int) -> None:
    segs = segments(done, first=first, last_parts=in_progress)
    text = live(segs)
    if not segs:
        assert tag(text, "#EXT-X-PRELOAD-HINT") == []
        return
    hint = one(text, "#EXT-X-PRELOAD-HINT")
    assert text.splitlines()[-1] == hint
    last = segs[-1]
    expected = (f"part/{last.msn + 1}.0.m4s" if last.complete
                else f"part/{last.msn}.{len(last.part_durations)}.m4s")
    assert attrs(hint) == {"TYPE": "PART", "URI": expected}


def test_in_progress_segment_lists_its_parts_but_no_uri() -> None:
    text = live(segments(2, last_parts=3))
    lines = text.splitlines()
    assert "seg/2.m4s" not in lines
    assert [line for line in lines if line.startswith("seg/")] == ["seg/0.m4s", "seg/1.m4s"]
    parts_of_2 = [attrs(line) for line in tag(text, "#EXT-X-PART") if "part/2." in line]
    assert [p["URI"] for p in parts_of_2] == ["part/2.0.m4s", "part/2.1.m4s", "part/2.2.m4s"]
    assert all(p["INDEPENDENT"] == "YES" and float(p["DURATION"]) == pytest.approx(0.32)
               for p in parts_of_2)


def test_parts_are_listed_only_for_segments_near_the_live_edge() -> None:
    # six complete 2.24 s segments; parts window 6.72 s covers the last three
    text = live(segments(6))
    listed = {int(attrs(line)["URI"].split("/")[1].split(".")[0])
              for line in tag(text, "#EXT-X-PART")}
    assert listed == {3, 4, 5}
    assert len(tag(text, "#EXT-X-PART")) == 3 * 7


def test_every_part_is_listed_before_its_segment_uri() -> None:
    lines = live(segments(2, last_parts=1)).splitlines()
    for m in range(2):
        last_part = max(i for i, line in enumerate(lines) if f'URI="part/{m}.' in line)
        extinf = lines.index(f"seg/{m}.m4s") - 1
        assert lines[extinf].startswith("#EXTINF:")
        assert last_part < extinf


@given(done=st.integers(1, 6), in_progress=st.one_of(st.none(), st.integers(0, 6)))
def test_ended_playlist_has_endlist_and_no_low_latency_tags(done: int,
                                                            in_progress: int | None) -> None:
    text = live(segments(done, last_parts=in_progress), ended=True)
    assert text.splitlines()[-1] == "#EXT-X-ENDLIST"
    for name in ("#EXT-X-PRELOAD-HINT", "#EXT-X-PART", "#EXT-X-PART-INF",
                 "#EXT-X-SERVER-CONTROL"):
        assert tag(text, name) == [], name


def test_live_playlist_has_no_endlist() -> None:
    assert tag(live(segments(3, last_parts=1)), "#EXT-X-ENDLIST") == []


def test_plain_playlist_without_low_latency_has_no_parts_or_hint() -> None:
    text = live(segments(3, last_parts=2), low_latency=None)
    for name in ("#EXT-X-PRELOAD-HINT", "#EXT-X-PART", "#EXT-X-PART-INF",
                 "#EXT-X-SERVER-CONTROL"):
        assert tag(text, name) == [], name
    assert len(tag(text, "#EXTINF")) == 3


def test_vod_playlist_declares_its_type_and_ends() -> None:
    text = render_media(segments(3), segment_target=2.24, discontinuity_sequence=0, ended=True,
                        low_latency=None, vod=True)
    assert value(one(text, "#EXT-X-PLAYLIST-TYPE")) == "VOD"
    assert text.splitlines()[-1] == "#EXT-X-ENDLIST"


# --- sequence numbers and discontinuities ---


@given(first=st.integers(0, 10**9))
def test_media_sequence_is_the_first_listed_msn(first: int) -> None:
    text = live(segments(3, first=first))
    assert int(value(one(text, "#EXT-X-MEDIA-SEQUENCE"))) == first
    uris = [line for line in text.splitlines() if line.startswith("seg/")]
    assert uris[0] == f"seg/{first}.m4s"


def test_empty_playlist_starts_at_media_sequence_zero() -> None:
    text = live([])
    assert int(value(one(text, "#EXT-X-MEDIA-SEQUENCE"))) == 0
    assert tag(text, "#EXTINF") == []


@given(discontinuities=st.frozensets(st.integers(1, 7)))
def test_discontinuity_tag_precedes_each_later_segment_that_has_one(
        discontinuities: frozenset[int]) -> None:
    lines = live(segments(8, discontinuities=discontinuities)).splitlines()
    tagged = set()
    for i, line in enumerate(lines):
        if line == "#EXT-X-DISCONTINUITY":
            assert lines[i + 1].startswith("#EXT-X-PROGRAM-DATE-TIME:")
            uri = next(x for x in lines[i + 1:] if x.startswith("seg/"))
            tagged.add(int(uri[4:].split(".")[0]))
    assert tagged == set(discontinuities)


@pytest.mark.parametrize("seq", [1, 7])
def test_discontinuity_sequence_is_written_when_not_zero(seq: int) -> None:
    assert int(value(one(live(segments(3), discontinuity_sequence=seq),
                         "#EXT-X-DISCONTINUITY-SEQUENCE"))) == seq
    assert tag(live(segments(3)), "#EXT-X-DISCONTINUITY-SEQUENCE") == []


def test_every_segment_has_a_program_date_time() -> None:
    segs = segments(3, last_parts=1)
    pdts = [value(line) for line in tag(live(segs), "#EXT-X-PROGRAM-DATE-TIME")]
    assert pdts == [format_pdt(s.program_date_time) for s in segs]


def test_query_is_appended_to_every_uri() -> None:
    text = live(segments(2, last_parts=1), query="?t=abc")
    uris = re.findall(r'URI="([^"]*)"', text) + [
        line for line in text.splitlines() if line and not line.startswith("#")]
    assert uris
    assert all(u.endswith("?t=abc") for u in uris), uris


# --- dates and the multivariant playlist ---


def test_program_date_time_is_utc_with_milliseconds() -> None:
    assert format_pdt(1_700_000_000.0) == "2023-11-14T22:13:20.000Z"
    assert format_pdt(0.25) == "1970-01-01T00:00:00.250Z"


@given(epoch=st.floats(0, 4_000_000_000, allow_nan=False))
def test_program_date_time_parses_back_to_the_same_millisecond(epoch: float) -> None:
    text = format_pdt(epoch)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    assert -1e-6 <= epoch - parsed < 0.001 + 1e-6  # fromtimestamp rounds to the microsecond


def test_multivariant_lists_one_audio_variant() -> None:
    text = render_multivariant(media_uri="media.m3u8?sid=x", bandwidth=70400,
                               codecs="mp4a.40.2")
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in lines
    inf = attrs(one(text, "#EXT-X-STREAM-INF"))
    assert inf == {"BANDWIDTH": "70400", "CODECS": "mp4a.40.2"}
    assert lines[lines.index(one(text, "#EXT-X-STREAM-INF")) + 1] == "media.m3u8?sid=x"
