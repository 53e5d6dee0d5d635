"""A flagship's listeners under each attack family, one family at a time (issue 18, item 4).

One origin at its default settings (only the 5-part hold-back docs/cluster.md advises behind
nginx edges) with the common Linux default of 1,024 descriptors (`--nofile`, applied with
prlimit: never raised), one real nginx edge (`townhall edge-config`), a flagship space on air
(ffmpeg), and ~50 listeners through the edge for the whole run (`townhall loadtest`, in its own
process, so that generating attacks cannot delay them). The attacker holds ONE ticket (one join
through the edge) and no key, and sends from one loopback address (127.30.0.1), family after
family, each for `--seconds`:

  reloads   spellings of a blocking reload (_HLS_msn/_HLS_part with zeros, '+', spaces,
            duplicates, huge and far-future numbers), hundreds held at once, under the ticket
  clips     clip query and path spellings of an ended space's replay
  seats     entry-URL GETs and join POSTs trying to fill a second, capped space
  players   standard-player starts (ffmpeg-style GETs of master.m3u8, no page)
  ingest    hundreds of idle / head-only sockets on the ingest port, and hostile-key heads
  whip      WHIP offers with line-break and encoding variants, and oversized ones (no key)
  queries   random query strings on pages and static paths (the edge's `location /`)
  loadtest  the load tester's own flood patterns (`townhall loadtest --attack ...`)

While each family runs, the operator goes live on a fresh space via Icecast (ffmpeg to the
ingest port with its host key): recorded as went live yes/no and seconds to air.

Stalls and errors come from the listeners' per-second timeline and are charged to the family
whose window (its run plus the quiet gap after it) holds that second; stalls that came with the
load generator's own loop lag are shown apart. Prints a table; writes
bench/out/flagship_families.{json,png}. Loopback only; every loop bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.edge import Edge, start_edge
from harness.hls_client import parse_playlist
from harness.server import Server, free_port, push_tone, start_server, stop_process, stop_server
from townhall.loadtest.report import LoadReport

OUT = Path(__file__).resolve().parent / "out"
FAMILIES = ["reloads", "clips", "seats", "players", "ingest", "whip", "queries", "loadtest"]
ATTACKER = "127.30.0.1"  # the one attacking address (listeners come from 127.20.x.y)
GAP_S = 3.0  # quiet after each family, still charged to it (stalls end after their cause)
MAX_REQUESTS = 20_000  # per family, whatever the seconds
CAP = 40  # the capped space's seats
LAVF = "Lavf/60.16.100"
HELD, PEAK = "held >= 1 s", "peak in flight"  # outcomes that are not requests


@dataclass
class Ctx:
    origin: Server
    edge: Edge
    edge_port: int
    ingest_port: int
    flagship: str
    media_base: str  # the attacker's one ticket: the edge's ticketed base path
    ended: str
    capped: str
    work: Path
    rng: random.Random = field(default_factory=lambda: random.Random(18))


# --- one raw HTTP exchange (exact bytes; Connection: close) ---------------------------------

async def exchange(port: int, method: str, target: str, *, headers: dict[str, str] | None = None,
                   body: bytes = b"", timeout: float = 10.0) -> str:
    """The status of one request to 127.0.0.1:`port` from the attacking address, or
    "timeout" / "reset" / "refused"."""
    head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method == "POST":
        head.append(f"Content-Length: {len(body)}")
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=(ATTACKER, 0))
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            line = await reader.readline()
            rest = b""
            while chunk := await reader.read(65536):  # drain (held reloads answer late)
                rest = (rest + chunk)[:8192]
        parts = line.split(b" ")
        if len(parts) < 2:
            return "reset"
        status = parts[1].decode()
        if status.startswith("5"):  # name the refusal: "503 <error>"
            m = re.search(rb'"error":\s*"([a-z_]+)"', rest)
            status += f" {m.group(1).decode()}" if m else ""
        return status
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "reset"
    finally:
        if writer is not None:
            writer.close()


async def pool(workers: int, seconds: float, one: Callable[[], Awaitable[str]]) -> Counter[str]:
    """`workers` loops sending `one()` until `seconds` pass or MAX_REQUESTS are sent."""
    out: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    sent = in_flight = 0

    async def loop() -> None:
        nonlocal sent, in_flight
        while time.monotonic() < deadline and sent < MAX_REQUESTS:
            sent += 1
            began = time.monotonic()
            in_flight += 1
            out[PEAK] = max(out[PEAK], in_flight)
            try:
                out[await one()] += 1
            finally:
                in_flight -= 1
            if time.monotonic() - began >= 1.0:
                out[HELD] += 1  # answered after a second or more (held at the edge)

    await asyncio.gather(*[loop() for _ in range(workers)])
    return out


# --- the families ----------------------------------------------------------------------------

def _spell(n: int, rng: random.Random) -> str:
    if rng.random() < 0.4:
        return str(n)  # canonical: held at the edge until the part exists
    return rng.choice([str(n), "0" + str(n), "000" + str(n), "+" + str(n), "%2B" + str(n),
                       "%20" + str(n), str(n) + "%20", str(n) + ".0", "%3" + str(n)[0] + str(n)[1:],
                       "9" * 30, str(n + 1000), str(n + 3)])


async def reloads(ctx: Ctx, seconds: float) -> Counter[str]:
    """Hundreds of blocking reloads held at once, in every spelling, under the one ticket."""
    state = {"msn": 0, "part": 0}

    async def follow() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                with_ticket = f"http://127.0.0.1:{ctx.edge_port}{ctx.media_base}/media.m3u8"
                try:
                    pl = parse_playlist((await client.get(with_ticket)).text)
                    state["msn"], state["part"] = max((m, p) for m, p, _, _ in pl.parts)
                except (httpx.HTTPError, ValueError):
                    pass
                await asyncio.sleep(0.5)

    async def one() -> str:
        rng = ctx.rng
        msn, part = state["msn"] + rng.choice([0, 1]), rng.choice([0, 1, 2, state["part"] + 1])
        pairs = [f"_HLS_msn={_spell(msn, rng)}", f"_HLS_part={_spell(part, rng)}"]
        if rng.random() < 0.2:
            pairs.append(rng.choice(pairs))  # a directive twice
        if rng.random() < 0.2:
            pairs.append(f"x{rng.randint(0, 999)}={rng.randint(0, 999)}")
        rng.shuffle(pairs)
        return await exchange(ctx.edge_port, "GET",
                              f"{ctx.media_base}/media.m3u8?{'&'.join(pairs)}", timeout=12)

    poller = asyncio.ensure_future(follow())
    await asyncio.sleep(1.0)
    try:
        return await pool(300, seconds - 1.0, one)
    finally:
        poller.cancel()


async def clips(ctx: Ctx, seconds: float) -> Counter[str]:
    def target() -> str:
        rng = ctx.rng
        a, b = rng.uniform(0, 4), rng.uniform(0, 6)
        if rng.random() < 0.5:
            q = rng.choice([f"from={a:.1f}&to={b:.1f}", f"from=0{a:.2f}&to=+{b:.0f}",
                            f"to={b:.3f}&from={a:.3f}", f"from={a:.1f}&from=0&to={b:.1f}",
                            f"from=%20{a:.0f}&to={b:.0f}%20", f"from=1e0&to={b:.0f}",
                            f"from={a:.1f}&to={b:.1f}&x={rng.randint(0, 99999)}",
                            f"FROM={a:.0f}&TO={b:.0f}", "from=-1&to=99999999999999999999"])
            return f"/replay/{ctx.ended}/clip?{q}"
        first, last = rng.randint(0, 2), rng.randint(0, 3)
        spelled = rng.choice([f"{first}-{last}", f"0{first}-{last}", f"{first}-+{last}",
                              f"{first}.0-{last}", f"{first}-{last}%20", f"%3{first}-{last}",
                              f"{first}--{last}", f"{first}-{last}/"])
        return f"/replay/{ctx.ended}/clip/{spelled}.m4a"

    return await pool(40, seconds, lambda: exchange(ctx.edge_port, "GET", target()))


async def seats(ctx: Ctx, seconds: float) -> Counter[str]:
    async def one() -> str:
        if ctx.rng.random() < 0.5:
            return await exchange(ctx.edge_port, "GET", f"/live/{ctx.capped}/master.m3u8")
        return await exchange(ctx.edge_port, "POST", f"/api/spaces/{ctx.capped}/join",
                              headers={"Content-Type": "application/json"}, body=b"{}")

    return await pool(20, seconds, one)


async def players(ctx: Ctx, seconds: float) -> Counter[str]:
    return await pool(20, seconds, lambda: exchange(
        ctx.edge_port, "GET", f"/live/{ctx.flagship}/master.m3u8",
        headers={"User-Agent": LAVF, "Accept": "*/*", "Icy-MetaData": "1"}))


async def ingest(ctx: Ctx, seconds: float) -> Counter[str]:
    """300 sockets held idle or head-only on the ingest port, and hostile-key heads."""
    out: Counter[str] = Counter()
    held: list[asyncio.StreamWriter] = []
    deadline = time.monotonic() + seconds
    for i in range(300):
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", ctx.ingest_port, local_addr=(ATTACKER, 0)), 2)
        except (OSError, TimeoutError):
            out["connect refused"] += 1
            continue
        if i % 2:
            w.write(f"PUT /ingest/{ctx.flagship} HTTP/1.1\r\nContent-Type: aud".encode())
        held.append(w)
        out["sockets held"] += 1
    wrong = base64.b64encode(b"source:not-the-host-key").decode()
    shapes = [
        f"PUT /ingest/{ctx.flagship} HTTP/1.1\r\nAuthorization: Basic {wrong}\r\n"
        "Content-Type: audio/aac\r\n\r\n",
        f"SOURCE /ingest/{ctx.flagship} HTTP/1.0\r\nAuthorization: Basic {wrong}\r\n\r\n",
        f"PUT /ingest/{ctx.flagship}?key=nope HTTP/1.1\r\nContent-Type: audio/aac\r\n\r\n",
        "PUT /ingest/nosuchspace HTTP/1.1\r\nContent-Type: audio/aac\r\n\r\n"]

    async def hostile() -> str:
        try:
            async with asyncio.timeout(5):
                r, w = await asyncio.open_connection("127.0.0.1", ctx.ingest_port,
                                                     local_addr=(ATTACKER, 0))
                w.write(ctx.rng.choice(shapes).encode() + b"\xff\xf1" * 64)
                line = await r.readline()
                w.close()
            parts = line.split(b" ")
            return parts[1].decode() if len(parts) > 1 else "reset"
        except TimeoutError:
            return "timeout"
        except OSError:
            return "reset"

    out.update(await pool(10, max(0.0, deadline - time.monotonic()), hostile))
    for w in held:
        w.close()
    return out


def _offer(rng: random.Random) -> bytes:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
             "c=IN IP4 127.0.0.1", "a=mid:0", "a=sendonly", "a=ice-ufrag:abcd",
             "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
             "a=setup:actpass", "a=rtpmap:111 opus/48000/2"]
    many = rng.choice([1, 10, 600])
    lines += [f"a=candidate:{i} 1 udp 1 127.0.0.1 {9 + i % 50} typ host" for i in range(many)]
    sep = rng.choice(["\r\n", "\n", "\r", "\r\r\n", "\n\r", "\x0b", "\x85", "\u2028"])
    text = sep.join(lines) + sep
    if rng.random() < 0.2:
        text += "a=x:" + "y" * 300_000  # oversized
    return text.encode(rng.choice(["utf-8", "utf-8", "utf-16", "utf-8-sig"]))


async def whip(ctx: Ctx, seconds: float) -> Counter[str]:
    async def one() -> str:
        key = ctx.rng.choice([None, "not-a-key", "x" * 64])
        headers = {"Content-Type": ctx.rng.choice(["application/sdp", "application/SDP",
                                                   "text/plain"])}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        space = ctx.rng.choice([ctx.flagship, ctx.capped])
        return await exchange(ctx.edge_port, "POST", f"/whip/{space}", headers=headers,
                              body=_offer(ctx.rng))

    return await pool(10, seconds, one)


async def queries(ctx: Ctx, seconds: float) -> Counter[str]:
    paths = ["/", f"/spaces/{ctx.flagship}", f"/spaces/{ctx.flagship}/host", "/static/app.css",
             "/static/common.js", "/favicon.ico", "/static/nosuch.js", "/nosuchpage"]

    def target() -> str:
        rng = ctx.rng
        q = "&".join(f"{rng.getrandbits(24):x}={rng.getrandbits(32):x}"
                     for _ in range(rng.randint(1, 4)))
        return f"{rng.choice(paths)}?{q}"

    return await pool(30, seconds, lambda: exchange(ctx.edge_port, "GET", target()))


async def loadtest(ctx: Ctx, seconds: float) -> Counter[str]:
    report = ctx.work / "attack-loadtest.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "townhall.cli", "loadtest", "--target", ctx.edge.url, "--space",
        ctx.flagship, "--listeners", "0", "--duration", str(seconds), "--attack",
        "join,details,random,ticketless,forged,slow", "--attack-rate", "1500",
        "--slow-connections", "300", "--seed", "7", "--quiet", "--report", str(report),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.wait_for(proc.wait(), seconds + 30)
    attack = json.loads(report.read_text())["attack"]
    return Counter({str(k): int(v) for k, v in attack["by_outcome"].items()})


RUN: dict[str, Callable[[Ctx, float], Coroutine[Any, Any, Counter[str]]]] = {
    "reloads": reloads, "clips": clips, "seats": seats, "players": players, "ingest": ingest,
    "whip": whip, "queries": queries, "loadtest": loadtest}


# --- the operator ----------------------------------------------------------------------------

def go_live(origin: Server, n: int, result: dict[str, Any]) -> None:
    """The operator creates a space and goes live via Icecast (ffmpeg, host key)."""
    start = time.monotonic()
    push = None
    doc: dict[str, Any] | None = None
    try:
        doc = origin.create_space(title=f"Operator {n}", host="Operator")
        push = push_tone(doc["ingest_url"], 14, 550)
        origin.wait_on_air(doc["id"], timeout=10)
        result.update(live=True, to_air_s=round(time.monotonic() - start, 2))
    except (TimeoutError, AssertionError, httpx.HTTPError) as exc:
        result.update(live=False, why=str(exc)[:200])
    finally:
        if push is not None:
            stop_process(push)
        if doc is not None:
            origin.end_space(doc)


# --- setup, run, report ----------------------------------------------------------------------

def _published(origin: Server, sid: str) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        r = httpx.get(f"{origin.base_url}/record/{sid}", timeout=10)
        if r.status_code == 200 and r.json().get("state") == "published":
            return
        time.sleep(0.3)
    raise TimeoutError("the ended space's replay was not sealed")


def charge(report: LoadReport,
           windows: list[tuple[str, float, float]]) -> dict[str, dict[str, Any]]:
    """Each timeline second's stalls and errors, by the family window that holds it."""
    def empty() -> dict[str, Any]:
        return {"stalls": 0, "stalls_generator_lag": 0, "stalled_s": 0.0, "errors": 0,
                "errors_by_kind": Counter[str](), "loop_lag_max_s": 0.0}

    out = {name: empty() for name, _, _ in windows} | {"outside": empty()}
    for s in report.timeline:
        at = report.started_at + s.t
        name = next((n for n, a, b in windows if a <= at < b), "outside")
        row = out[name]
        row["stalls"] += s.stalls
        row["stalls_generator_lag"] += s.stalls_generator_lag
        row["stalled_s"] = round(row["stalled_s"] + s.stalled_s, 2)
        row["errors"] += s.errors
        row["errors_by_kind"].update(s.errors_by_kind)
        row["loop_lag_max_s"] = max(row["loop_lag_max_s"], s.loop_lag_max)
    return out


def run(families: list[str], seconds: float, listeners: int, nofile: int,
        work: Path) -> dict[str, Any]:
    total = len(families) * (seconds + GAP_S + 2) + 10
    edge_port = free_port()
    wrapper = ("prlimit", f"--nofile={nofile}:{nofile}") if nofile else ()
    origin = start_server(work / "data", "--public-url", f"http://127.0.0.1:{edge_port}",
                          "--set", "part_hold_back_parts=5", wrapper=wrapper)
    limits = Path(f"/proc/{origin.process.pid}/limits").read_text()
    open_files = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
    edge = start_edge(origin, work / "edge", edge_port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        flagship = origin.create_space(title="Flagship", host="Host")
        procs.append(push_tone(flagship["ingest_url"], total + 60))
        capped = origin.create_space(title="Capped", listener_cap=CAP)
        ended = origin.create_space(title="Ended")
        if "clips" in families:  # a sealed replay to ask clips of
            short = push_tone(ended["ingest_url"], 6, 660)
            assert short.wait(40) == 0
            assert origin.end_space(ended).status_code == 200
            _published(origin, ended["id"])
        origin.wait_on_air(flagship["id"], 30)
        joined = httpx.post(f"{edge.url}/api/spaces/{flagship['id']}/join", json={}, timeout=10)
        assert joined.status_code == 200, joined.text
        media_base = "/" + joined.json()["playlist_url"].split("/", 3)[3].rsplit("/", 1)[0]
        ctx = Ctx(origin, edge, edge_port, origin.ingest_port, flagship["id"], media_base,
                  ended["id"], capped["id"], work)
        listeners_report = work / "listeners.json"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "townhall.cli", "loadtest", "--target", edge.url, "--space",
             flagship["id"], "--listeners", str(listeners), "--duration", str(total),
             "--join-window", "2", "--seed", "8", "--quiet", "--report", str(listeners_report)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(6.0)  # the audience is playing before the first family
        windows: list[tuple[str, float, float]] = []
        rows: list[dict[str, Any]] = []
        for n, name in enumerate(families):
            t0 = time.time()
            operator: dict[str, Any] = {}
            op = threading.Timer(1.0, go_live, (origin, n, operator))
            op.start()
            outcomes = asyncio.run(RUN[name](ctx, seconds))
            op.join(40)
            time.sleep(max(0.0, GAP_S - (time.time() - t0 - seconds)))
            windows.append((name, t0, time.time()))
            sent = sum(v for k, v in outcomes.items() if k not in (HELD, PEAK))
            rows.append({"family": name, "sent": sent, "outcomes": dict(outcomes),
                         "operator": operator})
            print(f"  {name}: {sent} sent {dict(outcomes.most_common(6))}; operator "
                  f"{'live' if operator.get('live') else 'NOT live'} {operator}", flush=True)
        assert procs[-1].wait(total + 60) == 0
        report = LoadReport.read_json(listeners_report)
        charged = charge(report, windows)
        for row in rows:
            row.update(charged[row["family"]])
        alive = origin.process.poll() is None
        return {"families": rows, "outside_windows": charged["outside"],
                "listeners": {"requested": listeners, "played": report.played,
                              "stalls": report.stalls,
                              "stalls_generator_lag": report.stalls_generator_lag,
                              "errors": report.errors, "crashes": report.crashes[:3],
                              "loop_lag_s": report.loop_lag_s},
                "timeline": [{"t": round(report.started_at + s.t - windows[0][1], 1),
                              "stalls": s.stalls, "lag": s.stalls_generator_lag,
                              "errors": s.errors} for s in report.timeline],
                "windows": [(n, round(a - windows[0][1], 1), round(b - windows[0][1], 1))
                            for n, a, b in windows],
                "origin_open_files": open_files, "origin_alive": alive,
                "seconds_per_family": seconds}
    finally:
        for p in procs:
            stop_process(p)
        edge.stop()
        stop_server(origin)


def table(result: dict[str, Any]) -> list[str]:
    lines = [f"{'family':10}{'sent':>8}{'stalls':>8}{'gen-lag':>9}{'errors':>8}  operator live",
             "-" * 58]
    for r in result["families"]:
        op = r["operator"]
        live = f"yes ({op['to_air_s']} s)" if op.get("live") else "NO"
        lines.append(f"{r['family']:10}{r['sent']:>8}{r['stalls']:>8}"
                     f"{r['stalls_generator_lag']:>9}{r['errors']:>8}  {live}")
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, sent) = plt.subplots(1, 2, figsize=(12, 3.8), width_ratios=[3, 1])
    for i, (name, a, b) in enumerate(result["windows"]):
        ax.axvspan(a, b, color=["#e0f2fe", "#fef9c3"][i % 2])
        ax.text((a + b) / 2, 0.9, name, ha="center", transform=ax.get_xaxis_transform(),
                fontsize=8)
    tl = result["timeline"]
    ax.bar([s["t"] for s in tl], [s["stalls"] - s["lag"] for s in tl], color="#b91c1c",
           label="listener stalls (service)")
    ax.bar([s["t"] for s in tl], [s["lag"] for s in tl], color="#9ca3af",
           label="stalls with generator lag")
    ax.plot([s["t"] for s in tl], [s["errors"] for s in tl], "k.", label="listener errors")
    ax.set_xlabel("seconds since the first family")
    ax.set_ylabel("per second")
    ax.set_ylim(0, max(3, *[s["stalls"] + s["errors"] for s in tl]) + 1)
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(0, 0.85))
    n = result["listeners"]["requested"]
    ax.set_title(f"{n} listeners through an nginx edge, one attack family at a time",
                 fontsize=10)
    rows = result["families"]
    sent.barh([r["family"] for r in rows], [r["sent"] for r in rows], color="#1d4ed8")
    sent.invert_yaxis()
    sent.set_title("attack requests sent (one ticket, no key)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="per family")
    ap.add_argument("--listeners", type=int, default=50)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--nofile", type=int, default=1024,
                    help="the origin's descriptor limit (prlimit; 0: inherit this shell's)")
    args = ap.parse_args()
    families = args.families.split(",")
    assert set(families) <= set(FAMILIES), families
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="townhall-families-") as tmp:
        result = run(families, args.seconds, args.listeners, args.nofile, Path(tmp))
    print("\n".join(table(result)))
    ls = result["listeners"]
    print(f"listeners: {ls['played']}/{ls['requested']} played; {ls['stalls']} stalls "
          f"({ls['stalls_generator_lag']} with generator lag); errors {ls['errors']}; "
          f"outside the windows: {result['outside_windows']['stalls']} stalls; origin "
          f"{result['origin_open_files']}")
    (OUT / "flagship_families.json").write_text(json.dumps(result, indent=1, default=dict))
    plot(result, OUT / "flagship_families.png")
    print(f"wrote {OUT / 'flagship_families.json'} and {OUT / 'flagship_families.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
