"""One simulated listener: joins like the space page, holds its seat, and plays (`Player`).

Join: every outcome of `POST /api/spaces/<id>/join` (ticket, waiting room, proof of work,
429/503 with Retry-After, ended), bounded in attempts; the ticket is renewed at
`renew_after_s` and a lapsed or refused one (media answers 403) means joining again. As the
page does, it first reads the space's details: with a join grant there, it joins and renews
at `POST /api/admit/<id>` (any origin), and at the space's own join when a grant is refused.
Media paths are the ticketed playlist path on our target, whatever host the origin advertises.

Runs as one task on the shared event loop with its own keep-alive connections and source
address; no thread of its own (a proof of work is solved on the default executor). Ends by
count (join attempts, polls, a request budget per second of run) or when the runner cancels
it; never retries without a delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from enum import StrEnum

from townhall.admission.proof_of_work import solve
from townhall.loadtest.admission import (
    Admitted,
    GiveUp,
    RetryLater,
    Solve,
    Wait,
    read_join,
    retry_delay,
)
from townhall.loadtest.config import LoadConfig
from townhall.loadtest.http import HttpClient, HttpError
from townhall.loadtest.metrics import Tally
from townhall.loadtest.player import NotOnAir, Player
from townhall.loadtest.safety import Target
from townhall.loadtest.wire import Response

MAX_POLLS = 100_000  # waiting-room polls and rejoins, whatever the duration
MAX_REQUESTS_PER_S = 50.0  # a listener's request budget per second of run (LL needs ~6.3)
RENEW_RETRY_S = 5.0  # a failed renewal is tried again this much later (the seat lives on)
GRANT_REFRESH_S = 10.0  # the details (and their join grant) are read again after this long


TIER_PLAYLISTS = ("master.m3u8", "standard.m3u8")  # townhall.delivery.latency_tier.PLAYLIST


class State(StrEnum):
    PENDING = "pending"  # its join time has not come
    JOINING = "joining"
    WAITING = "waiting"  # in the waiting room
    ADMITTED = "admitted"  # holds a ticket, no audio yet
    PLAYING = "playing"
    ENDED = "ended"  # the stream ended (ENDLIST, 409) or never came on air
    FAILED = "failed"  # gave up joining
    DONE = "done"  # stopped by the end of the run


class TicketLost(Exception):
    """Media answered 403: the ticket lapsed or was refused; join again."""


class BudgetSpent(Exception):
    """The listener sent its whole request budget: something spins (a server answering a
    blocking reload at once, say); stop rather than hammer."""


class Listener:
    def __init__(self, index: int, config: LoadConfig, target: Target, source: str | None,
                 tally: Tally, rng: random.Random) -> None:
        self.index = index
        self.config = config
        self.tally = tally
        self.rng = rng
        self.client = HttpClient(target, source=source)
        self.player = Player(self, tally, low_latency=config.mode == "ll",
                             preload=config.ll_preload)
        self._state = State.PENDING
        self.ticket: str | None = None
        self.seat_secret = ""  # proves our seat on renew and leave (never in a URL)
        self.base = ""  # "/live/<space>/t/<ticket>/"
        self.renew_at: float | None = None
        self.admissions = 0  # tickets taken (first join, renewals, rejoins)
        self._renewing: asyncio.Task[None] | None = None
        self._grant: str | None = None  # the details' join grant, read at _grant_at
        self._grant_at: float | None = None
        self._no_grant = False  # a grant was refused: join at the space's origin from now on
        self._polls = 0
        self.budget = int(config.duration_s * MAX_REQUESTS_PER_S) + 100

    @property
    def state(self) -> State:
        if self._state is State.ADMITTED and self.player.playback is not None:
            return State.PLAYING
        return self._state

    # --- requests ---
    async def _send(self, what: str, method: str, path: str, *, json_body: object = None,
                    timeout: float | None = None) -> Response | None:
        if self.client.requests >= self.budget:
            raise BudgetSpent
        try:
            resp = await self.client.request(method, path, json_body=json_body,
                                             timeout=timeout or self.config.request_timeout_s)
        except HttpError as exc:
            self.tally.error(f"{what}:{exc.kind}")
            return None
        self.tally.request(resp.wire_size or len(resp.body))  # as on the wire (headers too)
        return resp

    async def media(self, what: str, uri: str, query: str = "") -> Response | None:
        """GET a media URI relative to the ticketed base; 403 means the ticket is gone."""
        sep = "&" if "?" in uri else "?"
        resp = await self._send(what, "GET", self.base + uri + (sep + query if query else ""))
        if resp is None:
            return None
        if resp.status == 403:
            self.tally.error(f"{what}:403")
            raise TicketLost
        if resp.status != 200:
            if what in ("master", "playlist") and resp.status == 404:
                self.tally.event("not_live")  # not on air yet (or any more): not an error
            else:
                self.tally.error(f"{what}:{resp.status}")
            return None
        return resp

    # --- the seat ---
    async def _join_grant(self) -> str | None:
        """The space's join grant, as the page reads it from the details (None: join at the
        space's origin)."""
        if not self.config.use_grants or self._no_grant:
            return None
        now = time.time()
        if self._grant_at is None or now - self._grant_at >= GRANT_REFRESH_S:
            self._grant_at, self._grant = now, None
            resp = await self._send("details", "GET", f"/api/spaces/{self.config.space}")
            if resp is not None and resp.status == 200:
                try:
                    doc = resp.json()
                except ValueError:
                    doc = None
                grant = doc.get("join_grant") if isinstance(doc, dict) else None
                self._grant = grant if isinstance(grant, str) else None
                self._follow_tier(doc)
        return self._grant

    def _follow_tier(self, doc: object) -> None:
        """Play the latency tier the details announce, as the page does (a listener already
        playing keeps its own)."""
        if not self.config.follow_tier or self.player.playback is not None:
            return
        name = doc.get("tier_playlist") if isinstance(doc, dict) else None
        if name in TIER_PLAYLISTS and name != self.player.tier_playlist:
            self.player.tier_playlist = name
            self.tally.event(f"tier:{name.removesuffix('.m3u8')}")

    async def _read_tier(self) -> None:
        """Before the first join without grants (which read the details anyway)."""
        if not self.config.follow_tier or (self.config.use_grants and not self._no_grant):
            return
        resp = await self._send("details", "GET", f"/api/spaces/{self.config.space}")
        if resp is not None and resp.status == 200:
            with contextlib.suppress(ValueError):  # unparsable details: stay at low
                self._follow_tier(resp.json())

    async def _post_join(self, body: dict[str, str]) -> Response | None:
        """POST the join: with a grant to any origin (/api/admit), else to the space's."""
        grant = None if ("token" in body or "challenge" in body) else await self._join_grant()
        if grant is None:
            return await self._send("join", "POST", f"/api/spaces/{self.config.space}/join",
                                    json_body=body, timeout=self.config.join_timeout_s)
        admit = {"grant": grant, **({"renew": body["renew"], "seat_secret": body["seat_secret"]}
                                    if body.get("renew") else {})}
        resp = await self._send("join", "POST", f"/api/admit/{self.config.space}",
                                json_body=admit, timeout=self.config.join_timeout_s)
        if resp is not None and resp.status in (403, 404, 422):
            self.tally.event("grant_refused")
            self._no_grant = True
            return await self._post_join(body)
        if resp is not None and resp.status == 200:
            self.tally.event("joined_with_grant")
        return resp

    async def _admit(self, body: dict[str, str]) -> Admitted | None:
        attempts = 0
        while attempts < self.config.max_join_attempts and self._polls < MAX_POLLS:
            resp = await self._post_join(body)
            if resp is None:
                attempts += 1
                await asyncio.sleep(retry_delay(None, attempts, self.rng))
                continue
            try:
                doc = resp.json() if resp.body else None
            except ValueError:
                doc = None
            step = read_join(resp.status, doc, resp.retry_after())
            if isinstance(step, Admitted):
                return step
            if isinstance(step, Wait):
                if self._state is State.JOINING:
                    self.tally.event("waited_in_line")
                    self._state = State.WAITING
                self._polls += 1
                body = {"token": step.token}
                await asyncio.sleep(step.poll_after_s * self.rng.uniform(0.8, 1.0))
                continue
            attempts += 1
            if isinstance(step, Solve):
                self.tally.event("proof_of_work")
                solution = await asyncio.to_thread(solve, step.challenge, step.difficulty)
                body = {"challenge": step.challenge, "solution": solution}
                continue
            self.tally.error(step.reason)
            if isinstance(step, RetryLater):
                await asyncio.sleep(retry_delay(step.after_s, attempts, self.rng))
                body = {"token": body["token"]} if "token" in body else {}
            elif isinstance(step, GiveUp):
                if not step.rejoin:
                    return None
                body = {}
                await asyncio.sleep(retry_delay(None, attempts, self.rng))
        return None

    def _take(self, adm: Admitted) -> None:
        self.admissions += 1
        self.ticket = adm.ticket
        self.seat_secret = adm.seat_secret
        self.base = adm.playlist_path.split("?", 1)[0].rsplit("/", 1)[0] + "/"
        self.renew_at = time.time() + adm.renew_after_s

    def maybe_renew(self) -> None:
        if self.renew_at is None or time.time() < self.renew_at or self._renewing is not None:
            return
        self._renewing = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        try:
            adm = await self._admit({"renew": self.ticket or "",
                                     "seat_secret": self.seat_secret})
            if adm is not None:
                self.tally.event("renewed")
                self._take(adm)
            else:
                self.renew_at = time.time() + RENEW_RETRY_S
        except BudgetSpent:
            pass  # the player hits the same budget and ends the listener
        finally:
            self._renewing = None

    # --- the listener's life ---
    async def run(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.player.joined_at = time.time()
        self._state = State.JOINING
        try:
            self._state = await self._live()
        except BudgetSpent:
            self.tally.error("listener:request_budget_spent")
            self._state = State.FAILED

    async def _live(self) -> State:
        """Join, play, rejoin when the ticket is lost; the state it ends in."""
        await self._read_tier()
        while self._polls < MAX_POLLS:  # each pass is a (re)join
            adm = await self._admit({})
            if adm is None:
                return State.FAILED if self.player.playback is None else State.ENDED
            self._take(adm)
            self._state = State.ADMITTED
            try:
                await self.player.play()
                return State.ENDED
            except NotOnAir:
                self.tally.error("media:not_on_air")
                return State.ENDED
            except TicketLost:
                self.tally.event("rejoined")
                self._polls += 1
        return State.FAILED

    async def stop(self, now: float) -> None:
        """The run is over (the task was cancelled): close the books, give the seat back."""
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        if self.state is State.PLAYING and self.player.playback is not None:
            stall = self.player.playback.finish(now)
            if stall is not None:
                self.tally.stall(stall.seconds, stall.at)
        if self._state not in (State.FAILED, State.ENDED):
            self._state = State.DONE
        if self.config.leave_at_end and self.ticket is not None:
            self.budget += 1
            await self._send("leave", "POST", f"/api/spaces/{self.config.space}/leave",
                             json_body={"ticket": self.ticket,
                                        "seat_secret": self.seat_secret}, timeout=2.0)
        await self.client.close()
