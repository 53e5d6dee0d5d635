"""Mix-minus and the pieces around it, without a network: the mixer's per-source
contributions, each speaker's outgoing track, PCM conversion, and the WHIP offer checks."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from townhall.ingest.whip import check_offer
from townhall.live.errors import SpaceError
from townhall.live.stage.rtc import OUT_FRAME, MixMinusTrack, shallow_receive_buffer, to_mono
from townhall.live.stage.space_speakers import SpaceSpeakers, SpeakerSession
from townhall.media.mixer import Mixer
from townhall.space.roles import Action, Role, SpeakerTokens, Stage


def tone(freq: float, n: int, amp: float = 0.25) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / 48000)).astype(np.float32)


def test_the_mixer_reports_each_unmuted_sources_contribution_to_the_last_pull() -> None:
    mixer = Mixer(prebuffer=0, ceiling=48000)
    for name, freq in (("a", 440), ("b", 880), ("c", 660)):
        mixer.add_source(name)
        mixer.write(name, tone(freq, 4096))
    mixer.sources["c"].muted = True
    mix = mixer.pull(1024)
    assert set(mixer.contributions) == {"a", "b"}
    np.testing.assert_allclose(mixer.contributions["a"] + mixer.contributions["b"], mix,
                               atol=1e-6)
    np.testing.assert_array_equal(mixer.contributions["a"], tone(440, 1024))


def test_a_source_may_ask_for_its_own_shallow_prebuffer() -> None:
    mixer = Mixer(prebuffer=7200, ceiling=48000)
    mixer.add_source("webrtc", prebuffer=1440, ceiling=12000)
    mixer.add_source("push")
    for name in ("webrtc", "push"):
        mixer.write(name, tone(440, 2048))
    mixer.pull(1024)
    assert set(mixer.contributions) == {"webrtc", "push"}
    assert np.any(mixer.contributions["webrtc"]) and not np.any(mixer.contributions["push"])
    with pytest.raises(ValueError):
        mixer.add_source("bad", prebuffer=10, ceiling=10)


def session(name: str, source: str) -> SpeakerSession:
    return SpeakerSession(id=name, seat_id=name, source=source, bearer_hash="",
                          pc=cast(RTCPeerConnection, None), outgoing=MixMinusTrack(48000),
                          created=time.monotonic(), attached=True)


def test_every_speaker_gets_everyone_but_themselves() -> None:
    async def scenario() -> None:
        mixer = Mixer(prebuffer=0, ceiling=48000)
        for source, freq in (("src-a", 440), ("src-b", 880), ("push", 660)):
            mixer.add_source(source)
            mixer.write(source, tone(freq, 4096))
        stage = Stage("space00001", SpeakerTokens(b"k" * 32), cap=13, max_seats=20,
                      host_name="Ada", now=0)
        room = SpaceSpeakers(cast(Any, SimpleNamespace()), stage, speaking_hold_s=0.4)
        guest = stage.invite(stage.host, "B", Role.SPEAKER, 0)
        stage.apply(stage.host, Action.PUBLISH, stage.host, 0)
        a, b = session("host", "src-a"), session(guest.id, "src-b")
        room.sessions = {a.id: a, b.id: b}
        program = cast(Any, SimpleNamespace(mixer=mixer))
        for _ in range(2):
            mixer.pull(1024)
            room.on_frame(program, threshold_dbfs=-45)
        got_a = a.outgoing.buffer.read(2048)
        got_b = b.outgoing.buffer.read(2048)
        np.testing.assert_allclose(got_a, tone(880, 2048) + tone(660, 2048), atol=1e-6)
        np.testing.assert_allclose(got_b, tone(440, 2048) + tone(660, 2048), atol=1e-6)
        doc = room.status()  # lists LIVE seats only: the guest has not published
        assert [s["id"] for s in doc["speakers"]] == ["host"] and doc["speaking"] == ["host"]
        a.outgoing.stop()
        b.outgoing.stop()

    asyncio.run(scenario())


def test_the_outgoing_track_sends_20ms_frames_as_fed_and_silence_when_idle() -> None:
    async def scenario() -> None:
        track = MixMinusTrack(max_samples=4800)
        track.push(tone(440, OUT_FRAME))
        frame = await track.recv()
        assert (frame.samples, frame.sample_rate, frame.layout.name) == (OUT_FRAME, 48000,
                                                                         "stereo")
        left = frame.to_ndarray().reshape(-1, 2)[:, 0].astype(np.float32) / 32767
        np.testing.assert_allclose(left, tone(440, OUT_FRAME), atol=1e-4)
        started = time.monotonic()
        await asyncio.sleep(0.3)  # the clock stopped feeding it
        idle = await track.recv()
        assert time.monotonic() - started < 0.5 and not np.any(idle.to_ndarray())
        assert idle.pts == OUT_FRAME
        for _ in range(20):  # a burst far beyond the ceiling keeps only the newest audio
            track.push(tone(440, 1024))
        assert track.buffer.buffered <= 4800
        track.stop()

    asyncio.run(scenario())


def test_decoded_frames_become_48k_mono_float() -> None:
    stereo = np.stack([tone(440, 960), tone(440, 960)], axis=1).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray((stereo * 32767).astype(np.int16), format="s16",
                                       layout="stereo")
    frame.sample_rate = 48000
    resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
    pcm = to_mono(frame, resampler)
    assert pcm.dtype == np.float32 and len(pcm) == 960
    np.testing.assert_allclose(pcm, tone(440, 960), atol=1e-4)
    narrow = av.AudioFrame.from_ndarray((tone(440, 160) * 32767).astype(np.int16).reshape(1, -1),
                                        format="s16", layout="mono")
    narrow.sample_rate = 8000  # PCMU/PCMA: resampled up
    out = np.concatenate([to_mono(narrow, resampler) for _ in range(10)])
    assert out.dtype == np.float32 and 5000 < len(out) <= 9600


def real_offer() -> str:
    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def test_offers_are_checked_before_webrtc_sees_them() -> None:
    offer = real_offer()
    check_offer(offer)
    cases = [
        ("", 400, "malformed_sdp"),
        ("hello", 400, "malformed_sdp"),
        ("v=0\r\nm=audio x\r\n", 400, "malformed_sdp"),
        ("v=0\r\ns=-\r\n", 422, "no_audio"),
        ("\r\n".join(ln for ln in offer.split("\r\n") if not ln.startswith("a=ice-")), 400,
         "malformed_sdp"),
        ("\r\n".join(ln for ln in offer.split("\r\n") if not ln.startswith("a=fingerprint")),
         400, "malformed_sdp"),
        (offer.replace("opus/48000/2", "G729/8000").replace("PCMU/8000", "G722/8000")
         .replace("PCMA/8000", "G723/8000"), 422, "unsupported_codec"),
    ]
    for sdp, status, code in cases:
        with pytest.raises(SpaceError) as info:
            check_offer(sdp)
        assert (info.value.status, info.value.code) == (status, code), sdp[:40]


def test_this_aiortc_still_lets_the_receive_buffer_be_shortened() -> None:
    # aiortc holds 4 packets (80 ms) before decoding; we take it to 1 through a private
    # attribute: an aiortc upgrade that renames it must fail here, not silently add latency
    async def scenario() -> bool:
        pc = RTCPeerConnection()
        transceiver = pc.addTransceiver("audio")
        shortened = shallow_receive_buffer(transceiver.receiver, 1)
        await pc.close()
        return shortened

    assert asyncio.run(scenario())
