"""Players nobody here wrote, given only the details' `playlist_url` through a real edge:
ffmpeg, GStreamer `playbin` and Shaka Player (npm) in Debian's Chromium on a page served from
another origin. Each plays live for 20 s or more across ticket renewals it never asked for
(tickets live 8 s here), then plays the replay; the replay download shows its true duration
in Chromium's <audio>.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.edge import Edge, origin_metrics
from harness.server import Server, free_port, push_tone, stop_process
from tests.audibility import audibility
from tests.browser.conftest import chromium

pytestmark = [pytest.mark.slow, pytest.mark.conformance, pytest.mark.timing]
ROOT = Path(__file__).resolve().parents[2]
LIVE_S = 22.0
PAGE = """<!doctype html><meta charset="utf-8"><title>embed</title>
<audio id="a"></audio><script src="shaka-player.compiled.js"></script>
<script>
window.errors = [];
async function play(url) {
  const audio = document.getElementById("a");
  const player = new shaka.Player();
  await player.attach(audio);
  player.addEventListener("error",
    e => window.errors.push(e.detail.code + " " + JSON.stringify(e.detail.data)));
  window.player = player;
  try {
    await player.load(url);
    await audio.play();
  } catch (e) {
    window.errors.push("load " + e.code + " " + JSON.stringify(e.data || String(e)));
  }
}
function duration(url) {
  return new Promise((ok, fail) => {
    const a = new Audio(); a.preload = "metadata";
    a.onloadedmetadata = () => ok(a.duration); a.onerror = () => fail(String(a.error.code));
    a.src = url;
  });
}
</script>"""


@pytest.fixture(scope="module")
def other_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A page on another origin than the API, with Shaka Player from npm."""
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(PAGE)
    shutil.copy(ROOT / "node_modules/shaka-player/dist/shaka-player.compiled.js", root)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _ffmpeg(url: str, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-t", str(seconds),
                             "-f", "f32le", "-ac", "1", "-ar", "48000", "-y", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _playbin(url: str, out: Path, sync: bool = True) -> subprocess.Popen[bytes]:
    """playbin into a file; `sync` plays in real time (live), else as fast as it reads."""
    sink = (f"audioconvert ! audioresample ! audio/x-raw,format=F32LE,channels=1,rate=48000 "
            f"! filesink location={out} sync={'true' if sync else 'false'}")
    return subprocess.Popen(["gst-launch-1.0", "-q", "-e", "playbin", f"uri={url}",
                             f"audio-sink={sink}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _mpv(url: str, out: Path) -> subprocess.Popen[bytes]:
    """mpv (libavformat's HLS reader, its own player core) into a raw float file."""
    return subprocess.Popen(["mpv", "--no-config", "--really-quiet", "--no-video", "--ao=pcm",
                             f"--ao-pcm-file={out}", "--ao-pcm-waveheader=no",
                             "--audio-format=float", "--audio-channels=mono",
                             "--audio-samplerate=48000", url],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _vlc(url: str, out: Path) -> subprocess.Popen[bytes]:
    """VLC (its own adaptive-streaming HLS module) transcoding into a raw float file. VLC
    refuses to run as root, so as root (CI) it runs as `nobody`: `out` must be writable by
    it (see `_shared_dir`)."""
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    sout = (f"#transcode{{acodec=f32l,channels=1,samplerate=48000}}"
            f":std{{access=file,mux=raw,dst={out}}}")
    return subprocess.Popen([*as_user, "env", "HOME=/tmp", "cvlc", "-q", "--no-plugins-cache",
                             "--no-video", url, "--sout", sout],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any user can write (VLC runs as `nobody` under root), removed after."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="townhall-players-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# seconds the element actually played: the sum of its `played` ranges (a live stream's
# currentTime is a position on its timeline, which starts wherever the live window does)
PLAYED_S_JS = """() => {
  const r = document.getElementById('a').played;
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r.end(i) - r.start(i);
  return s;
}"""


def _heard(pcm: np.ndarray, what: str, seconds: float) -> None:
    heard = audibility(pcm, 48000)
    assert heard.audible_s >= seconds - 0.5 and heard.longest_gap_s <= 0.5, (what, heard)


def test_standard_players_play_live_across_renewals_and_then_the_replay(
        deployment: tuple[Server, Edge], other_site: str, tmp_path: Path) -> None:
    origin, edge = deployment
    doc = origin.create_space(title="players")
    push = push_tone(doc["ingest_url"], 45, 1000)
    gst_out = tmp_path / "playbin.f32"
    players: list[subprocess.Popen[bytes]] = []  # output to files: a full pipe stalls them
    try:
        origin.wait_on_air(doc["id"], 20)
        entry = origin.details(doc["id"])["playlist_url"].replace(origin.base_url, edge.url)
        ffmpeg_out = tmp_path / "ffmpeg.f32"
        players = [_ffmpeg(entry, LIVE_S, ffmpeg_out), _playbin(entry, gst_out)]
        with chromium(tmp_path / "profile") as ctx:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.goto(other_site)
            page.evaluate("url => play(url)", entry)
            page.wait_for_timeout(LIVE_S * 1000)
            played = page.evaluate(PLAYED_S_JS)  # seconds played, not a timeline position
            errors = page.evaluate("window.errors")
            assert errors == [] and played >= LIVE_S - 3, (played, errors)

            _, err = players[0].communicate(timeout=60)
            assert players[0].returncode == 0, err.decode()[-2000:]
            # (it may start inside the program's first, silent, start-up buffer)
            _heard(np.fromfile(ffmpeg_out, dtype=np.float32), "ffmpeg live", LIVE_S - 1)
            # playbin starts slower: give it until its file holds LIVE_S of audio
            deadline = time.monotonic() + 30
            while (gst_out.stat().st_size if gst_out.exists() else 0) < LIVE_S * 48000 * 4 \
                    and time.monotonic() < deadline:
                time.sleep(0.5)
            stop_process(players[1])  # a live stream has no end: stopped, its file stays
            _heard(np.fromfile(gst_out, dtype=np.float32), "playbin live", LIVE_S - 1)

            push.wait(60)
            deadline = time.monotonic() + 20  # ended once its audio has been played out
            while f"source left {doc['id']}" not in origin.log() \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            assert origin.end_space(doc).status_code == 200
            details = origin.details(doc["id"])
            replay = details["replay_url"].replace(origin.base_url, edge.url)
            download = details["replay_download_url"].replace(origin.base_url, edge.url)
            duration = page.evaluate("url => duration(url)", download)
            assert abs(duration - 45) < 1.0, duration  # the download's true duration
            page.evaluate("url => window.player.load(url).then(() => "
                          "document.getElementById('a').play())", replay)
            page.wait_for_timeout(3000)
            assert page.evaluate(PLAYED_S_JS) >= 1.5
            assert page.evaluate("window.errors") == []
        replay_pcm = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", replay, "-f",
                                     "f32le", "-ac", "1", "-ar", "48000", "-"],
                                    capture_output=True, timeout=60, check=True).stdout
        _heard(np.frombuffer(replay_pcm, dtype=np.float32), "ffmpeg replay", 45)
        gst_replay = tmp_path / "replay.f32"
        replay_gst = _playbin(replay, gst_replay, sync=False)
        replay_gst.wait(timeout=90)
        _heard(np.fromfile(gst_replay, dtype=np.float32), "playbin replay", 45)
    finally:
        for proc in [*players, push]:
            stop_process(proc)


def test_shaka_through_the_edge_and_at_an_origin_renews_at_most_once_per_lifetime_unredirected(
        deployment: tuple[Server, Edge], other_site: str, tmp_path: Path) -> None:
    """Shaka resolves every segment against the first redirect it ever saw (5.2:
    `redirectUris[0]`), so a redirect per lapsed ticket became one per segment (295 of its
    677 requests in 60 s). Two Shaka players at once, one through the edge and one straight
    at the origin (no edge: the origin serves the lapsed ticket itself, `LapsedTickets`):
    each plays on at its first ticket's URLs, no request after the entry URL's is
    redirected, and its seat is renewed at most once per ticket lifetime (the origin counts
    the renewals it asked for itself apart: `player_renewed_at_origin`)."""
    from tests.conformance.conftest import TICKET_S

    origin, edge = deployment
    spaces = {via: origin.create_space(title=f"shaka renewals {via}")
              for via in ("edge", "origin")}
    pushes = [push_tone(doc["ingest_url"], 60, 1000) for doc in spaces.values()]
    seconds = 4 * TICKET_S  # four lifetimes: three lapses
    try:
        for doc in spaces.values():
            origin.wait_on_air(doc["id"], 20)
        entries = {via: origin.details(doc["id"])["playlist_url"] for via, doc in spaces.items()}
        entries["edge"] = entries["edge"].replace(origin.base_url, edge.url)
        redirected: dict[str, list[str]] = {via: [] for via in entries}
        with chromium(tmp_path / "profile") as ctx:
            pages = {via: ctx.new_page() for via in entries}
            for via, page in pages.items():
                page.goto(other_site)
                page.on("request", lambda r, via=via: redirected[via].append(
                    r.redirected_from.url) if r.redirected_from is not None else None)
            before = origin_metrics(origin)["counters"]
            for via, page in pages.items():
                page.evaluate("url => play(url)", entries[via])
            pages["edge"].wait_for_timeout(seconds * 1000)
            after = origin_metrics(origin)["counters"]
            played = {via: page.evaluate(PLAYED_S_JS) for via, page in pages.items()}
            errors = {via: page.evaluate("window.errors") for via, page in pages.items()}
        at_origin = after.get("player_renewed_at_origin", 0) - before.get(
            "player_renewed_at_origin", 0)
        renewals = {"origin": at_origin,
                    "edge": after["player_renewed"] - before["player_renewed"] - at_origin}
        print("Shaka: seconds played", played, "renewals", renewals)
        for via in entries:
            assert errors[via] == [] and played[via] >= seconds - 4, (via, played, errors)
            assert redirected[via] == [entries[via]], (via, redirected[via])  # the entry's 302
            # its first ticket lives TICKET_S, then one renewal per lifetime: 3 here
            assert 1 <= renewals[via] <= seconds / TICKET_S, (via, renewals)
    finally:
        for push in pushes:
            stop_process(push)


@pytest.fixture
def pausing(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    """An origin whose program pauses 4 s after its source leaves, behind an edge, with
    8 s tickets: a pause of 14 s outlasts both the idle pause and a ticket."""
    from harness.edge import origin_behind_edge
    from tests.conformance.conftest import JITTER, TICKETS

    with origin_behind_edge(tmp_path / "deploy", *TICKETS, *JITTER, "--idle-pause", "4",
                            "--set", "part_hold_back_parts=5") as pair:
        yield pair


def test_standard_players_play_on_when_the_host_pauses_past_the_idle_pause_and_resumes(
        pausing: tuple[Server, Edge], other_site: str, tmp_path: Path,
        shared_dir: Path) -> None:
    """ffmpeg, GStreamer playbin, mpv and Shaka, all at once through the edge, play on after
    the pause. VLC 3.0 plays up to it and stays open, but after the EXT-X-DISCONTINUITY it
    restarts its MP4 demuxer without feeding it the init segment again ("mp4 stream error: no
    moov before mdat", "Failed to create demuxer") and writes nothing more, whether or not the
    playlist repeats EXT-X-MAP there (its HLS parser keeps one init per rendition): a VLC
    defect with fragmented-MP4 HLS, held here to what it does (docs/players.md)."""
    origin, edge = pausing
    doc = origin.create_space(title="pause")
    first, gap, second = 12, 14, 20
    push = push_tone(doc["ingest_url"], first, 1000)
    gst_out, ff_out = shared_dir / "playbin.f32", shared_dir / "ffmpeg.f32"
    mpv_out, vlc_out = shared_dir / "mpv.f32", shared_dir / "vlc.f32"
    players: list[subprocess.Popen[bytes]] = []
    resumed: subprocess.Popen[bytes] | None = None
    try:
        origin.wait_on_air(doc["id"], 20)
        entry = origin.details(doc["id"])["playlist_url"].replace(origin.base_url, edge.url)
        players = [_ffmpeg(entry, 300, ff_out), _playbin(entry, gst_out), _mpv(entry, mpv_out),
                   _vlc(entry, vlc_out)]
        with chromium(tmp_path / "profile") as ctx:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.goto(other_site)
            page.evaluate("url => play(url)", entry)
            push.wait(first + 30)
            page.wait_for_timeout(gap * 1000)  # the program pauses; every ticket lapses
            before = page.evaluate("document.getElementById('a').currentTime")
            sizes = {p: p.stat().st_size if p.exists() else 0
                     for p in (gst_out, ff_out, mpv_out)}
            # VLC heard the first part whole (it is checked no further: see the docstring)
            assert audibility(np.fromfile(vlc_out, dtype=np.float32),
                              48000).audible_s >= first - 2
            resumed = push_tone(doc["ingest_url"], second, 1000)
            page.wait_for_timeout((second - 4) * 1000)
            after = page.evaluate("document.getElementById('a').currentTime")
            errors = page.evaluate("window.errors")
            assert errors == [] and after - before >= 8, (before, after, errors)
        for proc in players:  # still playing, not stopped for good
            assert proc.poll() is None, proc.args[0]
        for path, was in sizes.items():  # what each wrote since the resume is the tone
            pcm = np.fromfile(path, dtype=np.float32)[was // 4:]
            heard = audibility(pcm, 48000)
            assert heard.audible_s >= 8, (path.name, heard)
    finally:
        for proc in [*players, push, *([resumed] if resumed else [])]:
            stop_process(proc)
            if proc.stderr is not None:
                proc.stderr.close()
