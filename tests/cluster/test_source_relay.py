"""An Icecast-framed source on any origin's ingest port meets the space's speakers: the origin
relays it through the edge (ingest.relay) to where the edge sends that space's sources, so a
WebRTC speaker (through the edge) and ffmpeg `icecast://` (on another origin's ingest port) are
both heard and the program stays put; the relaying origin killed, ffmpeg started again on a
third origin's ingest port is heard again."""

from __future__ import annotations

import base64
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness.cluster import Cluster, cluster, wait_for
from harness.edge import start_edge_over
from harness.server import Server, free_port, stop_process, tone_power
from tests.cluster.source_helpers import playing_at
from tests.cluster.speaker_helpers import SpeakerThread

pytestmark = pytest.mark.slow
WEBRTC = ("--set", "ice_host_addresses=127.0.0.1", "--set", "whip_candidate_networks=127.0.0.0/8",
          "--idle-pause", "60")
VOICE, MUSIC = 440, 1320  # the speaker's tone, ffmpeg's tone
SETTLE_S = 6.0  # the program watched for moves once both sources are heard


def icecast_ffmpeg(origin: Server, space_id: str, key: str, log: Path) -> subprocess.Popen[bytes]:
    """ffmpeg's own Icecast output (a PUT with neither length nor chunking), at real time."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re", "-f", "lavfi",
             "-i", f"sine=frequency={MUSIC}:duration=600", "-c:a", "aac", "-b:a", "64k",
             "-f", "adts", "-content_type", "audio/aac",
             f"icecast://source:{key}@127.0.0.1:{origin.ingest_port}/ingest/{space_id}"],
            stdout=out, stderr=out)


def source_with_wrong_key(origin: Server, space_id: str) -> bytes:
    """What a legacy Icecast client (SOURCE, DarkIce and liquidsoap style) with a wrong
    password is answered on `origin`'s ingest port."""
    auth = base64.b64encode(b"source:wrong").decode()
    with socket.create_connection(("127.0.0.1", origin.ingest_port), timeout=10) as sock:
        sock.sendall(f"SOURCE /ingest/{space_id} ICE/1.0\r\nAuthorization: Basic {auth}\r\n"
                     "Content-Type: audio/mpeg\r\n\r\n".encode())
        received = b""
        while more := sock.recv(65536):
            received += more
    return received


def both_heard(media: str) -> bool:
    """Both tones in the newest parts of the program under `media` (a listener's base)."""
    pcm, rate = playing_at(media)
    return tone_power(pcm, rate, VOICE) > 0.15 and tone_power(pcm, rate, MUSIC) > 0.15


def counter(origin: Server, name: str) -> float:
    """The sum of a Prometheus counter's samples on one origin (0 when never counted)."""
    text = httpx.get(f"{origin.base_url}/metrics", timeout=10,
                     headers=origin.hosting_headers()).text
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def moves_while_watching(c: Cluster, space_id: str, seconds: float) -> list[str | None]:
    """The lease holders seen, in order, while the program is watched for `seconds`."""
    seen: list[str | None] = [c.holder(space_id)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = c.holder(space_id)
        if now != seen[-1]:
            seen.append(now)
        time.sleep(0.1)
    return seen


def test_an_icecast_source_on_another_origin_joins_the_speakers_without_moving_the_program(
        tmp_path: Path) -> None:
    edge_port = free_port()
    edge_url = f"http://127.0.0.1:{edge_port}"
    with cluster(tmp_path, 3, edge_port, *WEBRTC,
                 "--set", f"ingest_public_url={edge_url}") as c:
        edge = start_edge_over({f"o{i}": o for i, o in enumerate(c.origins)},
                               tmp_path / "edge", edge_port)
        names = dict(zip("abc", c.origins, strict=True))
        speaker = ffmpeg = None
        try:
            doc = c.origins[0].create_space(title="relayed", host="Ada")
            sid, key = doc["id"], doc["host_key"]
            speaker = SpeakerThread(edge.url, sid, key, VOICE)  # the host speaks via the edge
            speaker.start()
            speaker.wait_published(30)
            wait_for(lambda: httpx.get(f"{edge.url}/api/spaces/{sid}").json()["on_air"], 30,
                     "on air through the edge")
            joined = httpx.post(f"{edge.url}/api/spaces/{sid}/join", json={}, timeout=10)
            media = joined.json()["playlist_url"].rsplit("/", 1)[0]  # a listener, via the edge
            home = c.holder(sid)  # the origin the edge sends this space's sources to
            assert home is not None
            relay, third = (names[n] for n in "abc" if n != home)
            ffmpeg = icecast_ffmpeg(relay, sid, key, tmp_path / "ffmpeg.log")
            wait_for(lambda: both_heard(media), 30, "the speaker and ffmpeg heard")
            seen = moves_while_watching(c, sid, SETTLE_S)
            assert seen == [home], f"the program moved: {seen}"
            assert ffmpeg.poll() is None, (tmp_path / "ffmpeg.log").read_text()
            assert both_heard(media)
            assert sum(counter(o, "townhall_sources_moved_total") for o in c.origins) == 0
            assert counter(relay, "townhall_sources_relaying") == 1  # relayed, not taken
            refused = source_with_wrong_key(relay, sid)  # the hash origin's answer, relayed
            assert refused.startswith(b"HTTP/1.1 401") and b"bad_host_key" in refused, refused
            assert b"WWW-Authenticate: Basic" in refused

            relay.process.send_signal(signal.SIGKILL)  # the origin ffmpeg pushed to dies
            killed = time.monotonic()
            assert ffmpeg.wait(15) != 0  # ffmpeg notices (its connection is gone) and exits
            ffmpeg = icecast_ffmpeg(third, sid, key, tmp_path / "ffmpeg.log")  # its operator
            wait_for(lambda: both_heard(media), 30, "ffmpeg heard again")
            back_s = time.monotonic() - killed
            assert c.holder(sid) == home
            assert ffmpeg.poll() is None
            print(f"ffmpeg icecast:// via another origin heard again {back_s:.1f} s after "
                  f"its origin was killed; program stayed on {home}")
        finally:
            if ffmpeg is not None:
                stop_process(ffmpeg)
            if speaker is not None:
                speaker.close()
            edge.stop()
