"""Builds the ASGI app for one townhall process and starts its services with it.

`create_app` is the FastAPI application (routes, docs, services in its lifespan); `outer`
wraps it in what must run before any framework code: shedding by priority, then the join
fast path. That wrapped app is what the server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from townhall import __version__
from townhall.captions.captioner import Captioner
from townhall.captions.programs import CaptionedFactory
from townhall.cluster.base import Cluster
from townhall.cluster.solo import SoloCluster
from townhall.delivery.cors import CorsPolicy
from townhall.delivery.latency_tier import LatencyTiers
from townhall.ingest import http_push, whip
from townhall.ingest.icecast import IngestServer
from townhall.live.cluster_sync.cluster_watch import ClusterWatch
from townhall.live.cluster_sync.key_watch import KeyWatch, end_host_session
from townhall.live.cluster_sync.news import News
from townhall.live.descriptors import DescriptorReserve
from townhall.live.joins.admissions import Admissions
from townhall.live.joins.grant_admission import GrantAdmission
from townhall.live.program.factory import ProgramFactory
from townhall.live.program.host import LocalPrograms, ProgramHost
from townhall.live.program.leases import ProgramLeases
from townhall.live.registry.host_keys import HostKeys, KeyRotation
from townhall.live.registry.hosting import Hosting
from townhall.live.registry.space_ending import SpaceEnding
from townhall.live.registry.spaces import Spaces
from townhall.live.sources.push_sources import PushSources
from townhall.live.sources.source_watch import SourceWatch
from townhall.live.stage.shared_stage import SharedStage
from townhall.live.stage.speakers import Speakers
from townhall.ops import metrics
from townhall.ops.operator_listener import OperatorListener
from townhall.reach.analytics import Analytics
from townhall.reach.listening import ListeningLog
from townhall.reach.space_watch import SpaceWatch
from townhall.reach.transcripts import Transcripts
from townhall.reach.webhooks import Webhooks
from townhall.recording.identity_files import load_or_create
from townhall.settings import Settings
from townhall.store.factory import open_stores
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
from townhall.web.client_ip import parse_networks
from townhall.web.cors import Cors
from townhall.web.fast_join import FastJoin
from townhall.web.shedding import LagMonitor, Shedding
from townhall.web.space_documents import SpaceDocuments


def create_app(settings: Settings) -> FastAPI:
    settings.store.recordings_path.mkdir(parents=True, exist_ok=True)
    # built here, not in the lifespan, because the middleware needs them at construction
    stores = open_stores(settings)
    # "am I one of several origins?" is decided here, once: the services are given the
    # cluster's implementations or the solo ones, and never ask
    clustered = settings.cluster.redis_url is not None
    cluster = _cluster(settings)
    # other processes may write the spaces' host key hashes (a shared database, or a cluster)
    shared_store = clustered or settings.store.database_url is not None
    identity = (load_or_create(settings.store.data_dir / "signing", "townhall",
                               settings.recording.signing_key_file,
                               settings.recording.signing_chain_file)
                if settings.recording.signing else None)
    reserve = DescriptorReserve()
    reserve.fill(settings.recording.recorder_reserved_fds)
    # several origins: the holder's subtitle segments reach the standbys through the cluster
    captioner = Captioner(settings, cluster=cluster if clustered else None)
    factory = CaptionedFactory(ProgramFactory(settings, stores.recordings, identity, reserve),
                               captioner)
    # several origins: each live program runs where its lease is, standbys follow it
    leases = ProgramLeases(settings, cluster, factory) if clustered else None
    programs: ProgramHost = leases if leases is not None else LocalPrograms(factory)
    keys = HostKeys(settings, stores.spaces, shared=shared_store)
    spaces = Spaces(settings, stores.spaces, stores.recordings, keys=keys, programs=programs,
                    rooms=cluster.room)
    watch = ClusterWatch(spaces, cluster, leases.follow) if leases is not None else None
    # rotations, takeovers and revoked tickets reach every origin
    news = News(cluster, settings.cluster.key_check_ttl_s)
    # the seats' tickets, as this origin hands them out: the host's listening time
    listening = ListeningLog.empty(settings.reach.analytics_max_keys)
    admissions = Admissions(settings, spaces, announce=news.announce, listening=listening)
    grant_admission = GrantAdmission(settings, spaces, admissions, cluster)
    hosting = Hosting(settings, stores.keys, spaces)
    sources = PushSources(spaces, news.announce, admit=hosting.admit_source,
                          admit_audio=hosting.admit_audio)
    speakers = Speakers(settings, spaces, admit=hosting.admit_source,
                        admit_audio=hosting.admit_audio)
    ending = SpaceEnding(spaces, programs, on_end=[
        lambda space: speakers.close_space(space, "the space has ended")])
    rotation = KeyRotation(keys, spaces.known, sources.cut_off, news.announce,
                           on_rotated=[lambda space: end_host_session(speakers, space)])
    key_watch = KeyWatch(spaces, cluster, admissions, rotation, sources)
    # several origins: one push source on air per space, wherever it lands
    source_watch = _source_watch(settings, spaces, cluster.origin) if clustered else None
    # several origins: one stage in details
    shared_stage = _shared_stage(settings, spaces) if clustered else None
    trusted = parse_networks(settings.listen.trusted_proxies, settings.listen.edge_secret)
    lag = LagMonitor(admissions)
    tiers = LatencyTiers(mode=settings.delivery.latency_tier,
                         ll_listeners_max=settings.delivery.ll_listeners_max,
                         lag_ceiling_s=(settings.delivery.tier_lag_ceiling_s
                                        * settings.overload.shed_lag_scale),
                         hold_s=settings.delivery.tier_hold_s,
                         sustain_s=settings.delivery.tier_lag_sustain_s)
    webhooks = Webhooks(settings, stores.reach)
    space_watch = SpaceWatch(spaces, hosting, webhooks)
    analytics = Analytics(spaces, stores.reach, listening)
    transcripts = Transcripts(spaces, captioner, stores.reach, webhooks, hosting)
    grants_in_details = settings.admission.admit_anywhere and settings.admission.require_tickets
    documents = SpaceDocuments(
        settings, spaces, identity,
        join_grant=grant_admission.grant_for if grants_in_details else None,
        latency_tier=lambda space, listeners, now: tiers.announce(
            space.record.id, listeners, admissions.pressure.lag_s, now))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # one stack: whatever started is stopped, in the reverse order, even if a later
        # start fails. Built pieces first (closed last); the cluster services before the
        # spaces, so that programs are suspended while their leases are still held.
        async with AsyncExitStack() as stack:
            stack.callback(stores.close)
            stack.callback(reserve.close)
            if leases is not None:
                stack.push_async_callback(leases.close)  # closes the cluster too
            else:
                stack.push_async_callback(cluster.close)
            if watch is not None:
                watch.start()
                stack.push_async_callback(watch.close)
            if source_watch is not None:
                stack.push_async_callback(source_watch.claims.close)
            if shared_stage is not None:
                shared_stage.start()
                stack.push_async_callback(shared_stage.close)
            captioner.start()
            stack.push_async_callback(captioner.close)
            await spaces.start()
            stack.push_async_callback(spaces.close)
            ingest = IngestServer(settings, sources, source_watch)
            await ingest.start()
            stack.push_async_callback(ingest.close)
            app.state.ingest = ingest
            operator = OperatorListener(settings.ops.metrics_listen)
            await operator.start()
            stack.push_async_callback(operator.close)
            app.state.operator_listener = operator
            await speakers.start()
            stack.push_async_callback(speakers.close)
            lag.start()
            stack.push_async_callback(lag.close)
            grant_admission.start()
            stack.push_async_callback(grant_admission.close)
            stack.push_async_callback(news.close)
            key_watch.start()
            stack.push_async_callback(key_watch.close)
            hosting.start(ending.finish)
            stack.push_async_callback(hosting.close)
            webhooks.start()
            stack.push_async_callback(webhooks.close)
            space_watch.start()
            stack.push_async_callback(space_watch.close)
            analytics.start()
            stack.push_async_callback(analytics.close)
            transcripts.start()
            stack.push_async_callback(transcripts.close)
            yield

    app = FastAPI(title="townhall", version=__version__, lifespan=lifespan,
                  description="Live audio spaces: control API. Media is LL-HLS under /live "
                              "and /replay; sources push to the ingest port.")
    app.state.settings = settings
    app.state.spaces = spaces
    app.state.documents = documents
    app.state.push_sources = sources
    app.state.ending = ending
    app.state.key_rotation = rotation
    app.state.reserve = reserve
    app.state.admissions = admissions
    app.state.grant_admission = grant_admission
    app.state.leases = leases
    app.state.speakers = speakers
    app.state.source_watch = source_watch
    app.state.hosting = hosting
    app.state.webhooks = webhooks
    app.state.space_watch = space_watch
    app.state.analytics = analytics
    app.state.trusted = trusted
    app.state.replays = {}
    app.state.replay_playlists = {}  # space id -> media.ReplayPlaylist (sealed: never changes)
    app.state.signed_clips = signed_replay.SignedClips(settings.recording.clip_cache_bytes)
    app.state.stores = stores
    app.state.withdrawn = {}
    app.state.feeds = {}  # feed name -> web.feeds.RenderedFeed (kept feed_cache_s)
    app.state.latency_tiers = tiers
    app.state.captioner = captioner
    errors.install(app)
    app.include_router(api.router)
    app.include_router(speakers_api.router)
    app.include_router(keys_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(analytics_api.router)
    app.include_router(program_meter.router)
    app.include_router(captions_api.router)
    metrics.watch(spaces, admissions, stores, reserve)
    for route in (public_record.routes + signed_replay.routes + media.routes + pages.routes
                  + whip.routes + speakers_api.routes + health.routes + http_push.routes
                  + feeds.routes + feeds_transcript.routes + embed.routes + oembed.routes):
        app.router.routes.append(route)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_json_body)
    return app


def _cluster(settings: Settings) -> Cluster:
    """Redis when the origin has a --redis-url (several origins), else memory alone."""
    name = settings.cluster.origin_name or f"{settings.listen.host}:{settings.listen.port}"
    if settings.cluster.redis_url is None:
        return SoloCluster(name)
    from townhall.cluster.redis_cluster import RedisCluster

    return RedisCluster(settings.cluster.redis_url, name, lease_ttl_s=settings.cluster.lease_ttl_s,
                        max_entries=settings.cluster.replica_max_entries,
                        timeout_s=settings.cluster.redis_timeout_s,
                        replica_wait_ms=settings.cluster.redis_replica_wait_ms)


def _source_watch(settings: Settings, spaces: Spaces, origin: str) -> SourceWatch:
    """Redis claims on push sources when the origin is one of several (--redis-url)."""
    assert settings.cluster.redis_url is not None
    from townhall.cluster.source_claims import RedisSourceClaims

    claims = RedisSourceClaims(settings.cluster.redis_url,
                               ttl_s=settings.cluster.source_claim_ttl_s,
                               timeout_s=settings.cluster.redis_timeout_s)
    return SourceWatch(spaces, claims, origin)


def _shared_stage(settings: Settings, spaces: Spaces) -> SharedStage:
    """The stage posted by each program's origin, shown by all (--redis-url)."""
    assert settings.cluster.redis_url is not None
    from townhall.cluster.stage_board import RedisStageBoard

    board = RedisStageBoard(settings.cluster.redis_url, ttl_s=settings.stage.stage_share_ttl_s,
                            timeout_s=settings.cluster.redis_timeout_s)
    return SharedStage(spaces, board)


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
