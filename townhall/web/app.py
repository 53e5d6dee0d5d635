"""Builds the ASGI app for one townhall process around its services (`web.services`).

`create_app` is the FastAPI application (routes, docs; `Services.running` is its lifespan);
`outer` wraps it in what must run before any framework code: shedding by priority, then the
join fast path. That wrapped app is what the server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from townhall import __version__
from townhall.delivery.cors import CorsPolicy
from townhall.ingest import http_push, whip
from townhall.live.joins.player_tickets import LapsedTickets
from townhall.ops import metrics
from townhall.settings import Settings
from townhall.web import (
    analytics_api,
    api,
    captions_api,
    embed,
    errors,
    feeds,
    feeds_transcript,
    health,
    keys_api,
    media,
    oembed,
    pages,
    program_meter,
    public_record,
    signed_replay,
    speakers_api,
    webhooks_api,
)
from townhall.web.body_limit import BodyLimit
from townhall.web.cors import Cors
from townhall.web.fast_join import FastJoin
from townhall.web.services import build_services
from townhall.web.shedding import Shedding


def create_app(settings: Settings) -> FastAPI:
    """The app serving what `build_services` built; its lifespan is `Services.running`."""
    sv = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with sv.running():
            yield

    app = FastAPI(title="townhall", version=__version__, lifespan=lifespan,
                  description="Live audio spaces: control API. Media is LL-HLS under /live "
                              "and /replay; sources push to the ingest port.")
    app.state.settings = settings
    app.state.spaces = sv.spaces
    app.state.documents = sv.documents
    app.state.push_sources = sv.sources
    app.state.ending = sv.ending
    app.state.key_rotation = sv.rotation
    app.state.reserve = sv.reserve
    app.state.admissions = sv.admissions
    app.state.lapsed_tickets = LapsedTickets(sv.admissions, sv.grant_admission,
                                             settings.admission.lapsed_tickets_max)
    app.state.grant_admission = sv.grant_admission
    app.state.leases = sv.leases
    app.state.speakers = sv.speakers
    app.state.source_watch = sv.source_watch
    app.state.hosting = sv.hosting
    app.state.webhooks = sv.webhooks
    app.state.space_watch = sv.space_watch
    app.state.analytics = sv.analytics
    app.state.trusted = sv.trusted
    app.state.replays = {}
    app.state.replay_playlists = {}  # space id -> media.ReplayPlaylist (sealed: never changes)
    app.state.signed_clips = signed_replay.SignedClips(settings.recording.clip_cache_bytes)
    app.state.stores = sv.stores
    app.state.withdrawn = {}
    app.state.feeds = {}  # feed name -> web.feeds.RenderedFeed (kept feed_cache_s)
    app.state.latency_tiers = sv.tiers
    app.state.captioner = sv.captioner
    app.state.ingest = sv.ingest
    app.state.operator_listener = sv.operator
    errors.install(app)
    app.include_router(api.router)
    app.include_router(speakers_api.router)
    app.include_router(keys_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(analytics_api.router)
    app.include_router(program_meter.router)
    app.include_router(captions_api.router)
    metrics.watch(sv.spaces, sv.admissions, sv.stores, sv.reserve)
    for route in (public_record.routes + signed_replay.routes + media.routes + pages.routes
                  + whip.routes + speakers_api.routes + health.routes + http_push.routes
                  + feeds.routes + feeds_transcript.routes + embed.routes + oembed.routes):
        app.router.routes.append(route)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_json_body)
    return app


def outer(app: FastAPI) -> ASGIApp:
    """The app as served: CORS (preflights answered at once), Shedding (a refused request
    costs no framework work), then joins answered from ASGI (`fast_join`), then FastAPI."""
    st = app.state
    inner: ASGIApp = app
    if st.settings.admission.fast_join:
        inner = FastJoin(app, admissions=st.admissions, spaces=st.spaces,
                         grant_admission=st.grant_admission, trusted=st.trusted,
                         max_body=st.settings.limits.max_json_body)
    shedding = Shedding(inner, admissions=st.admissions, trusted=st.trusted)
    return Cors(shedding, CorsPolicy.from_settings(st.settings.listen.cors_origins,
                                                   st.settings.listen.cors_host_origins))
