"""Measures, per standard player, how many of its requests through a real nginx edge were
redirects and how many renewals reached an origin (issue 23): Shaka Player in Chromium,
ffmpeg and GStreamer playbin play one space at once for `--seconds`, with short tickets
(`--ticket-s`), each request logged by the edge with the player's User-Agent (the
measurement adds an access log to the generated config; nothing else changes).

    python -m tests.delivery.measure_player_renewals --seconds 60 --ticket-s 8

Not a test: it prints one line per player. Loopback only; everything it starts it stops.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness.server import free_port, push_tone, start_server, stop_process, stop_server
from tests.browser.conftest import chromium
from tests.conformance.test_players import PAGE, _playbin

ROOT = Path(__file__).resolve().parents[2]
LOG = ("log_format townhall_measure '$msec $status \"$uri\" \"$request_uri\" "
       "\"$upstream_status\" \"$http_user_agent\"';")
LINE = re.compile(r'^(\S+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$')


def _edge(origin_url: str, data_dir: Path, prefix: Path, port: int) -> subprocess.Popen[bytes]:
    subprocess.run([sys.executable, "-m", "townhall.cli", "edge-config", "--origin",
                    origin_url.removeprefix("http://"), "--listen", f"127.0.0.1:{port}",
                    "--prefix", str(prefix), "--data-dir", str(data_dir)],
                   check=True, capture_output=True)
    conf = prefix / "nginx.conf"
    log = f"access_log {prefix}/measure.log townhall_measure;"
    text = conf.read_text().replace("    access_log off;",
                                    f"    {LOG}\n    {log}\n    log_subrequest on;", 1)
    text = re.sub(r"(if=\$townhall_seat_logged;)", rf"\1\n            {log}", text)
    conf.write_text(text)
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(prefix), "-g",
                             "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not start")


def _who(agent: str) -> str:
    if agent.startswith("Lavf"):
        return "ffmpeg"
    if "GStreamer" in agent or "libsoup" in agent.lower():
        return "gstreamer"
    if "Chrom" in agent or "Mozilla" in agent:
        return "shaka"
    return agent or "?"


def tally(log: Path, seconds: float) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for line in log.read_text().splitlines():
        m = LINE.match(line)
        if m is None:
            continue
        _, status, uri, request_uri, upstream, agent = m.groups()
        row = out.setdefault(_who(agent), {"requests": 0, "redirects": 0, "renewals": 0})
        entry = re.fullmatch(r"/live/[a-z0-9]{10}/master\.m3u8", request_uri) is not None
        if uri == "/_townhall/renewal":  # the edge's renewal check (subrequest)
            row["renewals"] += upstream not in ("", "-")
            continue
        row["requests"] += 1
        if status == "302" and not entry:
            row["redirects"] += 1
            row["renewals"] += upstream not in ("", "-")  # @renew: went to the origin
    for row in out.values():
        row["redirects_per_h"] = row["redirects"] * 3600 / seconds
        row["renewals_per_h"] = row["renewals"] * 3600 / seconds
    return out


def short_ticket_flags(ticket_s: float) -> tuple[str, ...]:
    """`serve` flags for tickets of `ticket_s` (seats twice that) and players that buffer."""
    return ("--set", f"seat_ttl_s={2 * ticket_s}", "--set", f"seat_ttl_max_s={2 * ticket_s}",
            "--set", f"ticket_grace_s={ticket_s}", "--set", "part_hold_back_parts=5",
            "--set", "jitter_prebuffer_ms=800")


def shaka_site(site: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Shaka's test page served from another origin: the server and its port."""
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    shutil.copy(ROOT / "node_modules/shaka-player/dist/shaka-player.compiled.js", site)
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                            str(port), "--directory", str(site)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return web, port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--ticket-s", type=float, default=8)
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="renewals-"))
    port = free_port()
    origin = start_server(root / "data", *short_ticket_flags(a.ticket_s))
    edge = _edge(origin.base_url, origin.data_dir, root / "edge", port)
    web, site_port = shaka_site(root / "site")
    procs = []
    try:
        doc = origin.create_space(title="renewals")
        procs.append(push_tone(doc["ingest_url"], a.seconds + 40, 1000))
        origin.wait_on_air(doc["id"], 20)
        entry = origin.details(doc["id"])["playlist_url"].replace(
            origin.base_url, f"http://127.0.0.1:{port}")
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", entry, "-t", str(a.seconds), "-f",
             "f32le", "-ac", "1", "-ar", "48000", "-y", "/dev/null"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if shutil.which("gst-launch-1.0"):
            procs.append(_playbin(entry, root / "playbin.f32"))
        with chromium(root / "profile") as ctx:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.goto(f"http://localhost:{site_port}/index.html")
            page.evaluate("url => play(url)", entry)
            page.wait_for_timeout(a.seconds * 1000)
            errors = page.evaluate("window.errors")
        time.sleep(1)
    finally:
        for p in procs:
            stop_process(p)
        stop_process(web)
        stop_process(edge)
        stop_server(origin)
    print(f"{a.seconds:.0f} s, tickets {a.ticket_s:.0f} s, shaka errors {errors}")
    for who, row in sorted(tally(root / "edge" / "measure.log", a.seconds).items()):
        print(f"{who:10} requests {row['requests']:5.0f}  redirects {row['redirects']:4.0f} "
              f"({row['redirects_per_h']:6.0f}/h)  renewals {row['renewals']:3.0f} "
              f"({row['renewals_per_h']:5.0f}/h)")


if __name__ == "__main__":
    main()
