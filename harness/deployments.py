"""The fan-out benchmark's deployments: Icecast2, static HLS on nginx, a townhall origin on
air, each started on loopback and stopped at the end; and server CPU read from /proc.

Used by bench/fanout.py and bench/join_storm.py; nothing here measures listeners.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.marks import INPUT_ARGS, MarkedSource, WavPut
from harness.server import Server, free_port, start_server, stop_process, stop_server
from townhall.delivery.edge_config import HTTP_TUNING
from townhall.loadtest.safety import Target, check_target

BITRATE = 64_000
BYTES_PER_S = BITRATE // 8  # MP3 CBR: exactly this many bytes per second of audio
PREBUFFER_S = 2.0  # a progressive player starts with this much audio in hand
TICK = os.sysconf("SC_CLK_TCK")
NOISE = ["-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=48000:amplitude=0.3"]


# --- server CPU from /proc ---


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used: utime + stime) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (nginx workers, anything an origin spawned)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class CpuMeter:
    """Cumulative CPU seconds of each server role (a role is a few process trees)."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.pids = {role: [p for root in roots for p in process_tree(root)]
                     for role, roots in roles.items()}

    def read(self) -> dict[str, float]:
        return {role: sum(st[1] for p in pids if (st := _stat(p)) is not None)
                for role, pids in self.pids.items()}


# --- deployments ---


@dataclass
class Deployment:
    key: str
    target: Target
    roles: dict[str, list[int]]
    space: str = ""  # townhall: the space id
    path: str = ""  # icecast: the mount


def _spawn(args: list[str], log: Path | None = None,
           marked: list[MarkedSource] | None = None,
           seconds: float = 0.0) -> subprocess.Popen[bytes]:
    """Start a process; a source with `marked` reads marked PCM on stdin (harness/marks.py),
    whose feeder is appended to `marked`."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the OS
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL if marked is None else subprocess.PIPE)
    if marked is not None:
        assert proc.stdin is not None
        feeder = MarkedSource(proc.stdin, seconds)
        feeder.start()
        marked.append(feeder)
    return proc


def _input(seconds: float, marked: list[MarkedSource] | None) -> list[str]:
    """The source's input: pink noise in real time, or marked PCM on stdin (each encoded
    packet sent at once, so a mark is not held in ffmpeg's output buffer)."""
    if marked is None:
        return ["-re", *NOISE, "-t", str(seconds)]
    return [*INPUT_ARGS, "-flush_packets", "1"]


def _stop(proc: subprocess.Popen[bytes], marked: list[MarkedSource] | None = None) -> None:
    for feeder in marked or ():
        feeder.stop()
        feeder.join(2)
    if proc.stdin is not None:
        proc.stdin.close()
    stop_process(proc)
    if proc.stdout is not None:
        proc.stdout.close()


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:g} s")


ICECAST_XML = """<icecast>
  <location>loopback</location><admin>bench@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>{clients}</clients><sources>2</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect>
    <burst-size>{burst}</burst-size></limits>
  <authentication><source-password>{password}</source-password>
    <admin-user>admin</admin-user><admin-password>{password}</admin-password></authentication>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
"""


def _icecast_up(url: str) -> bool:
    with httpx.stream("GET", url, timeout=2) as res:
        return res.status_code == 200


@contextlib.contextmanager
def icecast(tmp: Path, seconds: float,
            marked: list[MarkedSource] | None = None) -> Iterator[Deployment]:
    """Icecast2 on loopback with a 64 kb/s MP3 mount fed by ffmpeg -re (or marked PCM)."""
    logdir = tmp / "icecast"
    logdir.mkdir(parents=True)
    for d in (tmp.parent, tmp):  # icecast drops root for nobody, then writes its logs
        d.chmod(0o711)
    logdir.chmod(0o777)
    port, password = free_port(), os.urandom(8).hex()
    # as root, icecast2 refuses to run unless told whom to become
    owner = ("<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
             if os.geteuid() == 0 else "")
    conf = tmp / "icecast.xml"
    conf.write_text(ICECAST_XML.format(clients=20_000, burst=int(BYTES_PER_S * PREBUFFER_S
                                                                 + 4000),
                                       password=password, port=port, logdir=logdir,
                                       owner=owner))
    server = _spawn(["icecast2", "-c", str(conf)], tmp / "icecast.out")
    source: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(0.5)
        if server.poll() is not None:
            raise RuntimeError(f"icecast2 exited: {(tmp / 'icecast.out').read_text()}")
        source = _spawn(["ffmpeg", "-nostdin", "-loglevel", "error", *_input(seconds, marked),
                         "-ac", "1", "-ar", "48000", "-c:a", "libmp3lame", "-b:a",
                         "64k", "-content_type", "audio/mpeg", "-f", "mp3",
                         f"icecast://source:{password}@127.0.0.1:{port}/live.mp3"],
                        marked=marked, seconds=seconds)
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _icecast_up(url + "/live.mp3"), "the icecast mount")
        yield Deployment("a", check_target(url), {"icecast2": [server.pid]}, path="/live.mp3")
    finally:
        if source is not None:
            _stop(source, marked)
        _stop(server)


STATIC_NGINX = """worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
{tuning}
    open_file_cache max=1000 inactive=10s;
    open_file_cache_valid 1s;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    types {{ application/vnd.apple.mpegurl m3u8; audio/mp4 m4s mp4; }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=65535;
        root {root};
        location ~ \\.m3u8$ {{ add_header Cache-Control "max-age=1"; }}
    }}
}}
"""


@contextlib.contextmanager
def static_hls(tmp: Path, seconds: float,
               marked: list[MarkedSource] | None = None) -> Iterator[Deployment]:
    """ffmpeg -re writes a live HLS playlist (fMP4, 2 s segments); a plain nginx serves it."""
    root, prefix = tmp / "hls", tmp / "nginx"
    root.mkdir(parents=True)
    (prefix / "tmp").mkdir(parents=True)
    for d in (tmp.parent, tmp, root):  # nginx workers run as nobody when started as root
        d.chmod(0o755)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(STATIC_NGINX.format(prefix=prefix, port=port, root=root, tuning=HTTP_TUNING))
    source = _spawn(["ffmpeg", "-nostdin", "-loglevel", "error", *_input(seconds, marked),
                     "-ac", "1", "-c:a", "aac", "-b:a", "64k", "-f", "hls",
                     "-hls_time", "2", "-hls_list_size", "8", "-hls_flags",
                     "delete_segments+program_date_time+independent_segments+temp_file",
                     "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
                     "-hls_segment_filename", str(root / "seg%d.m4s"), "-master_pl_name",
                     "master.m3u8", str(root / "media.m3u8")], marked=marked, seconds=seconds)
    server = _spawn(["nginx", "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"])
    try:
        url = f"http://127.0.0.1:{port}"
        # a plain player starts three target durations behind: wait for four segments
        _wait_for(lambda: httpx.get(url + "/media.m3u8", timeout=2).text.count("#EXTINF") >= 4,
                  "the static HLS playlist", timeout=30)
        yield Deployment("b", check_target(url), {"nginx": [server.pid]})
    finally:
        _stop(source, marked)
        _stop(server)


def _on_air(origin: Server, space: str) -> bool:
    return bool(origin.details(space)["on_air"])


@contextlib.contextmanager
def townhall(tmp: Path, seconds: float, *extra: str,
             marked: list[MarkedSource] | None = None) -> Iterator[tuple[Server, str]]:
    """A townhall origin (attack mode off: this measures fan-out, not admission) on air;
    `extra`: more `townhall serve` arguments (e.g. `--set part_hold_back_parts=5`). With
    `marked`, the marked PCM goes straight in as a live WAV PUT (the origin is the encoder,
    as ffmpeg is in the other designs)."""
    origin = start_server(tmp / "data", "--attack-mode", "off", *extra)
    source: subprocess.Popen[bytes] | None = None
    wav: WavPut | None = None
    try:
        doc = origin.create_space(title="fan-out bench", host="bench")
        if marked is not None:
            wav = WavPut(doc["ingest_url"])
            feeder = MarkedSource(wav, seconds)
            feeder.start()
            marked.append(feeder)
        else:
            source = _spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", *NOISE, "-t",
                             str(seconds), "-ac", "1", "-c:a", "aac", "-b:a", "96k", "-f",
                             "adts", doc["ingest_url"]])
        _wait_for(lambda: _on_air(origin, doc["id"]), "the townhall space")
        time.sleep(3)  # a few segments in the window
        yield origin, doc["id"]
    finally:
        if source is not None:
            _stop(source)
        if wav is not None:
            for feeder in marked or ():
                feeder.stop()
                feeder.join(2)
            wav.close()
        stop_server(origin)
