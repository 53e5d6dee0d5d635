"""Measures, per standard player straight at an origin (no edge), how many of its requests
were redirects (after the entry URL's own) and how many seat renewals it cost the origin
(issue 23): ffmpeg, GStreamer playbin and Shaka Player in Chromium, each alone in turn for
SECONDS on TICKET_S tickets, behind a pass-through nginx that only logs each request and its
status (no cache, no ticket check: the origin's answers reach the player as they are);
renewals are the origin's `player_renewed` while that player played.

    python -m tests.integration.measure_player_renewals_at_origin 40 5

Not a test: it prints one table row per player (docs/players.md). Loopback only; everything
it starts it stops.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.edge import origin_metrics
from harness.server import free_port, push_tone, start_server, stop_process, stop_server
from tests.browser.conftest import chromium
from tests.conformance.test_players import _playbin
from tests.delivery.measure_player_renewals import shaka_site, short_ticket_flags

LINE = re.compile(r'^(\S+) (\d+) "([^"]*)" "([^"]*)"$')


def proxy(origin_port: int, prefix: Path, port: int) -> subprocess.Popen[bytes]:
    prefix.mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/error.log;
events {{}}
http {{
  log_format m '$msec $status "$request_uri" "$http_user_agent"';
  access_log {prefix}/measure.log m;
  client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;
  uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://127.0.0.1:{origin_port}; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_buffering off; proxy_read_timeout 60s; }} }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def main() -> None:
    seconds, ticket_s = float(sys.argv[1]), float(sys.argv[2])
    root = Path(tempfile.mkdtemp(prefix="renewals-at-origin-"))
    origin = start_server(root / "data", *short_ticket_flags(ticket_s))
    web, site_port = shaka_site(root / "site")
    rows = []
    try:
        for who in ("ffmpeg", "gstreamer", "shaka"):
            port = free_port()
            nginx = proxy(int(origin.base_url.rsplit(":", 1)[1]), root / who, port)
            doc = origin.create_space(title=who)
            push = push_tone(doc["ingest_url"], seconds + 40, 1000)
            procs = [push, nginx]
            try:
                origin.wait_on_air(doc["id"], 20)
                entry = origin.details(doc["id"])["playlist_url"].replace(
                    origin.base_url, f"http://127.0.0.1:{port}")
                before = origin_metrics(origin)["counters"]["player_renewed"]
                note = ""
                if who == "ffmpeg":
                    p = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", entry,
                                          "-f", "null", "-"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
                    procs.append(p)
                    time.sleep(seconds)
                    note = "alive" if p.poll() is None else f"stopped rc={p.returncode}"
                elif who == "gstreamer":
                    p = _playbin(entry, root / "playbin.f32")
                    procs.append(p)
                    time.sleep(seconds)
                    note = "alive" if p.poll() is None else f"stopped rc={p.returncode}"
                else:
                    with chromium(root / "profile") as ctx:
                        page = ctx.pages[0] if ctx.pages else ctx.new_page()
                        page.goto(f"http://localhost:{site_port}/index.html")
                        page.evaluate("url => play(url)", entry)
                        page.wait_for_timeout(seconds * 1000)
                        note = f"errors {page.evaluate('window.errors')}"
                renewals = origin_metrics(origin)["counters"]["player_renewed"] - before
            finally:
                for p in reversed(procs):
                    stop_process(p)
            requests = redirects = 0
            for line in (root / who / "measure.log").read_text().splitlines():
                m = LINE.match(line)
                if m is None:
                    continue
                _, status, uri, _agent = m.groups()
                requests += 1
                entry_uri = re.fullmatch(r"/live/[a-z0-9]{10}/master\.m3u8", uri) is not None
                redirects += status in ("301", "302", "303", "307") and not entry_uri
            rows.append((who, requests, redirects, renewals, note))
    finally:
        stop_process(web)
        stop_server(origin)
    print(f"{seconds:.0f} s, tickets {ticket_s:.0f} s, straight at an origin")
    for who, req, red, ren, note in rows:
        print(f"| {who} | {req} | {red} ({red * 3600 / seconds:,.0f}) | {ren} "
              f"({ren * 3600 / seconds:,.0f}) | {note}")


if __name__ == "__main__":
    main()
