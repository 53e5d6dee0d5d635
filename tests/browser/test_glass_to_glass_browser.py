"""What an hls.js listener in a real browser hears, and when: glass to glass through a stock
nginx edge (issue 12: p50 distance from live <= 1.2 s, a marked sound heard within 1.5 s p95).

A marked source (harness/marks.py: loud 100 ms beeps at irregular 1.2-2.6 s intervals over
never-quiet noise) is PUT as a live WAV stream to a real origin in real time; the push time of
a beep is the wall time the chunk holding its first sample was written. The listener page
`/spaces/ID` (its hls.js, loaders and latency controller) plays through the edge in headless
Chromium. Its <audio> element is tapped with WebAudio (createMediaElementSource -> an
AudioWorklet -> the destination, so the element still plays): the worklet finds beep onsets
sample by sample, as harness/marks.py's OnsetFinder does on decoded audio.

What "heard" means here: the wall time the browser's audio graph renders the beep's first loud
sample, i.e. the media element has decoded it and is playing it out (stamped when the page
receives the worklet's message: a busy page thread only adds to it); the audio sink's own
output latency (the device buffer: ctx.outputLatency, 0.03 s with headless Chromium's fake
output, printed) is not part of it. The page's clock (performance.timeOrigin +
performance.now()) is the test's time.time() on the same machine; their offset is measured
and removed.

Measured after the join has settled and after the origin's ingest catch-up has shed the push
source's start-up backlog (about 20 s into the show; before that a mark takes up to ~0.15 s
longer): glass to glass is then the listener's distance from live plus the origin's
push -> program delay (~0.28 s), flat over the run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from harness.edge import Edge, origin_behind_edge
from harness.marks import (
    ONSET_LEVEL,
    QUIET_LEVEL,
    REARM_S,
    RISE,
    MarkedSource,
    WavPut,
    match,
)
from harness.server import Server
from tests.browser.test_space_page import current_time, fatal_errors, playback, wait_playing

pytestmark = [pytest.mark.slow, pytest.mark.timing]
SETTLE_S = 8  # after playback starts: hls.js and the origin's ingest catch-up settle
MEASURE_S = 20  # then beeps and distances are measured
MAX_DISTANCE_P50_S = 1.2  # issue 12, item 1
MAX_GLASS_P95_S = 1.5
SOURCE_S = 120  # the source's own bound (stopped at the end anyway)

# The tap: onsets in the audio graph, sample-accurate on the AudioContext's clock; each is
# posted to the page, which stamps its arrival (the render time, a few ms late at most).
WORKLET = f"""
class BeepTap extends AudioWorkletProcessor {{
  constructor() {{
    super();
    this.n = 0; this.recent = []; this.lastOld = -1e12;
    this.rearm = {REARM_S} * sampleRate; this.peak = 0;
  }}
  process(inputs, outputs) {{
    const input = inputs[0], output = outputs[0];
    if (input.length === 0) {{ this.n += 128; return true; }}
    for (let c = 0; c < output.length; c++) output[c].set(input[Math.min(c, input.length - 1)]);
    const ch = input[0];
    for (let i = 0; i < ch.length; i++) {{
      const idx = this.n + i, a = Math.abs(ch[i]);
      while (this.recent.length && this.recent[0] < idx - {RISE}) {{
        this.lastOld = this.recent.shift();  // the last noisy sample before a rising edge
      }}
      if (a >= {ONSET_LEVEL} && (idx - {RISE}) - this.lastOld >= this.rearm) {{
        this.port.postMessage({{ onset: currentTime + i / sampleRate }});
        this.lastOld = idx;  // the rest of this beep is not another onset
      }}
      if (a >= {QUIET_LEVEL}) this.recent.push(idx);
      if (a > this.peak) this.peak = a;
    }}
    this.n += ch.length;
    return true;
  }}
}}
registerProcessor("beep-tap", BeepTap);
"""

TAP_JS = """async (code) => {
  const audio = document.getElementById("audio");
  const ctx = new AudioContext();
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  await ctx.audioWorklet.addModule(url);
  const tap = new AudioWorkletNode(ctx, "beep-tap");
  ctx.createMediaElementSource(audio).connect(tap);
  tap.connect(ctx.destination);
  const heard = [];
  window.glassTap = { ctx, heard };
  tap.port.onmessage = (e) => {
    const wall = performance.timeOrigin + performance.now();
    const ts = ctx.getOutputTimestamp();
    // the audio device's estimate, for the record: when the sample leaves the speaker
    const out = ts.performanceTime ? performance.timeOrigin + ts.performanceTime
      + (e.data.onset - ts.contextTime) * 1000 : null;
    heard.push({ wall: wall / 1000, out: out === null ? null : out / 1000,
                 media: audio.currentTime });
  };
  await ctx.resume();
  return { state: ctx.state, rate: ctx.sampleRate, base: ctx.baseLatency,
           output: ctx.outputLatency };
}"""

# distance from live two ways: the page's own clock against the program date of the playhead
# (as tests/browser/test_lean_playlists_browser.py), and hls.js's own estimate
DISTANCE_JS = """() => {
  const h = window.townhall.hls;
  if (!h || !h.playingDate) return null;
  return [(Date.now() - h.playingDate.getTime()) / 1000, h.latency];
}"""
CLOCK_JS = "() => performance.timeOrigin + performance.now()"
# the element's seeks and waits from the start (media events reach a capturing listener)
EVENTS_JS = """window.glassEvents = [];
for (const name of ["seeking", "waiting", "playing"]) {
  document.addEventListener(name, (e) => window.glassEvents.push(
    [name, Math.round(performance.now()), e.target.currentTime]), true);
}"""
CATCH_UP_LIMIT_S = 45  # from the source's start: its start-up backlog is shed by then
CATCH_UP_DONE_S = 3  # the origin's seconds_caught_up unchanged this long: done


def caught_up_s(origin: Server) -> float:
    key = (origin.data_dir / "admin.key").read_text().strip()
    res = httpx.get(f"{origin.base_url}/api/admin/metrics", timeout=10,
                    headers={"Authorization": f"Bearer {key}"})
    res.raise_for_status()
    return float(res.json()["ingest"]["seconds_caught_up"])


def wait_caught_up(origin: Server, started: float) -> float:
    """The origin's ingest catch-up (townhall/media/mixer.py) has shed the push source's
    start-up backlog: what an audience hears after the first seconds of a show. Returns the
    seconds caught up. (No backlog at all: nothing to catch up after the first 20 s.)"""
    deadline = started + CATCH_UP_LIMIT_S
    last, since = caught_up_s(origin), time.time()
    while time.time() < deadline:
        time.sleep(0.5)
        now = caught_up_s(origin)
        if now != last:
            last, since = now, time.time()
        elif (time.time() - since >= CATCH_UP_DONE_S
              and (last > 0 or time.time() > started + 20)):
            return last
    raise AssertionError(f"the ingest catch-up did not settle: {last} s caught up")


def page_clock_offset(page: Page) -> float:
    """The page's wall clock minus time.time(), from the tightest of a few round trips."""
    best: tuple[float, float] | None = None
    for _ in range(5):
        t0 = time.time()
        page_ms = float(page.evaluate(CLOCK_JS))
        t1 = time.time()
        if best is None or t1 - t0 < best[0]:
            best = (t1 - t0, page_ms / 1000 - (t0 + t1) / 2)
    assert best is not None
    return best[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Server, Edge]]:
    with origin_behind_edge(tmp_path, public=True) as pair:
        yield pair


def test_an_hls_js_listener_behind_the_edge_hears_a_pushed_mark_within_the_latency_target(
        deployment: tuple[Server, Edge], page: Page) -> None:
    origin, edge = deployment
    doc = origin.create_space(title="Glass to glass")
    sink = WavPut(doc["ingest_url"])
    source = MarkedSource(sink, SOURCE_S)
    source.start()
    started = time.time()
    try:
        origin.wait_on_air(doc["id"], timeout=30)
        page.add_init_script(EVENTS_JS)
        page.goto(doc["page_url"])
        assert doc["page_url"].startswith(edge.url)
        expect(page.locator("#state")).to_have_text("live")
        tap = page.evaluate(TAP_JS, WORKLET)
        assert tap["state"] == "running", tap
        wait_playing(page, 0.3)
        page.wait_for_timeout(SETTLE_S * 1000)
        caught_up = wait_caught_up(origin, started)
        offset = page_clock_offset(page)
        start = time.time()
        distances: list[float] = []
        estimates: list[float] = []
        c0 = current_time(page)
        while time.time() - start < MEASURE_S:
            page.wait_for_timeout(500)
            d = page.evaluate(DISTANCE_JS)
            if d is not None:
                distances.append(float(d[0]))
                estimates.append(float(d[1]))
        end = time.time()
        advanced = current_time(page) - c0
        page.wait_for_timeout(300)  # the last onsets' messages
        heard = page.evaluate("window.glassTap.heard")
        offset = (offset + page_clock_offset(page)) / 2
        assert advanced >= end - start - 1.0, f"stalled: {advanced:.2f} s in {end - start:.2f} s"
        assert fatal_errors(page) == [], playback(page)
        # onsets heard in the measured window, on the test's clock, matched to the pushes
        walls = [h["wall"] - offset for h in heard]
        window = [w for w in walls if start <= w <= end]
        pushes = list(source.pushes)
        matched = [latency for _, latency in match(window, pushes)]
        sent = [p for p in pushes if start - 1.0 <= p <= end - MAX_GLASS_P95_S]
        outs = [h["out"] - offset - w for h, w in zip(heard, walls, strict=True)
                if h["out"] is not None and start <= w <= end]
        p50_distance = statistics.median(distances)
        glass = sorted(matched)
        print(f"\nhls.js behind the nginx edge: distance p50 {p50_distance:.2f} s "
              f"(hls.latency p50 {statistics.median(estimates):.2f} s), max "
              f"{max(distances):.2f} s; glass to glass p50 {pct(glass, 50):.2f} s, p95 "
              f"{pct(glass, 95):.2f} s, max {pct(glass, 100):.2f} s over {len(glass)} marks "
              f"({len(sent)} pushed in the window, {len(window)} onsets heard); audio graph "
              f"{tap}; device output after render "
              f"{statistics.median(outs) if outs else float('nan'):.3f} s; clock offset "
              f"{offset * 1000:.1f} ms; ingest caught up {caught_up:.2f} s, settled "
              f"{start - started:.1f} s after the source started")
        print("element events (name, ms, position):", page.evaluate("window.glassEvents"))
        print("heard (s into the window):", [round(w - start, 2) for w in window])
        print("glass to glass, in order:", [round(x, 3) for x in matched])
        assert len(glass) >= max(5, len(sent) - 1), (glass, window, pushes)
        assert p50_distance <= MAX_DISTANCE_P50_S, distances
        assert pct(glass, 95) <= MAX_GLASS_P95_S, glass
    finally:
        source.stop()
        source.join(2)
        sink.close()
