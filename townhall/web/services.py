"""Every long-lived piece of one origin: built together (`build_services`), started in
order and stopped in the reverse order through one `AsyncExitStack` (`Services.running`).

Nothing is assigned onto a service after it is built: each is given its collaborators at
construction, and "am I one of several origins?" is decided once, in `build_services`. The
web layer (`web.app`) serves what this module built; it starts nothing itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from townhall.admission.listening import ListeningLog
from townhall.captions.captioner import Captioner
from townhall.captions.programs import CaptionedFactory
from townhall.cluster.base import Cluster
from townhall.cluster.solo import SoloCluster
from townhall.delivery.latency_tier import LatencyTiers
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
from townhall.live.seat_log import SeatLogRotation
from townhall.live.sources.push_sources import PushSources
from townhall.live.sources.source_watch import SourceWatch
from townhall.live.stage.shared_stage import SharedStage
from townhall.live.stage.space_speakers import mix_minus
from townhall.live.stage.speakers import Speakers
from townhall.ops.operator_listener import OperatorListener
from townhall.reach.analytics import Analytics
from townhall.reach.outbox import Outbox
from townhall.reach.space_watch import SpaceWatch
from townhall.reach.transcripts import Transcripts
from townhall.reach.webhooks import Webhooks
from townhall.recording.identity_files import load_or_create
from townhall.recording.signing import SigningIdentity
from townhall.settings import Settings
from townhall.store.factory import Stores, open_stores
from townhall.web.client_ip import Network, parse_networks
from townhall.web.shedding import LagMonitor
from townhall.web.space_documents import SpaceDocuments


@dataclass(frozen=True)
class Services:
    """One origin's services; `None` where this origin is alone (no cluster)."""

    settings: Settings
    stores: Stores
    cluster: Cluster
    reserve: DescriptorReserve
    identity: SigningIdentity | None
    captioner: Captioner
    leases: ProgramLeases | None
    spaces: Spaces
    watch: ClusterWatch | None
    news: News
    admissions: Admissions
    grant_admission: GrantAdmission
    hosting: Hosting
    sources: PushSources
    speakers: Speakers
    ending: SpaceEnding
    rotation: KeyRotation
    key_watch: KeyWatch
    source_watch: SourceWatch | None
    shared_stage: SharedStage | None
    trusted: list[Network]
    lag: LagMonitor
    tiers: LatencyTiers
    webhooks: Webhooks
    space_watch: SpaceWatch
    analytics: Analytics
    transcripts: Transcripts
    documents: SpaceDocuments
    ingest: IngestServer
    operator: OperatorListener
    seat_log: SeatLogRotation  # the edges' seats.log bounded (issue 18)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start everything; on leaving (or when a later start fails) stop whatever started,
        in the reverse order. Built pieces first (closed last); the cluster services before
        the spaces, so that programs are suspended while their leases are still held."""
        async with AsyncExitStack() as stack:
            stack.callback(self.stores.close)
            stack.callback(self.reserve.close)
            if self.leases is not None:
                stack.push_async_callback(self.leases.close)  # closes the cluster too
            else:
                stack.push_async_callback(self.cluster.close)
            if self.watch is not None:
                self.watch.start()
                stack.push_async_callback(self.watch.close)
            if self.source_watch is not None:
                stack.push_async_callback(self.source_watch.claims.close)
            if self.shared_stage is not None:
                self.shared_stage.start()
                stack.push_async_callback(self.shared_stage.close)
            self.captioner.start()
            stack.push_async_callback(self.captioner.close)
            await self.spaces.start()
            stack.push_async_callback(self.spaces.close)
            await self.ingest.start()
            stack.push_async_callback(self.ingest.close)
            await self.operator.start()
            stack.push_async_callback(self.operator.close)
            await self.speakers.start()
            stack.push_async_callback(self.speakers.close)
            self.lag.start()
            stack.push_async_callback(self.lag.close)
            self.grant_admission.start()
            stack.push_async_callback(self.grant_admission.close)
            stack.push_async_callback(self.news.close)
            self.key_watch.start()
            stack.push_async_callback(self.key_watch.close)
            self.hosting.start(self.ending.finish)
            stack.push_async_callback(self.hosting.close)
            for service in (self.webhooks, self.space_watch, self.analytics, self.transcripts,
                            self.seat_log):
                service.start()
                stack.push_async_callback(service.close)
            yield


def build_services(settings: Settings) -> Services:
    """Every service of one origin, each given its collaborators; nothing started."""
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
    # speakers on stage hear everyone but themselves from every frame a program mixes
    talkback = mix_minus(settings.stage.speaking_threshold_dbfs)
    factory = CaptionedFactory(ProgramFactory(settings, stores.recordings, identity, reserve,
                                              talkback), captioner)
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
                        admit_audio=hosting.admit_audio, is_operator=hosting.operators)
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
    outbox = Outbox(settings, stores.reach)
    space_watch = SpaceWatch(spaces, hosting, webhooks, outbox)
    analytics = Analytics(spaces, stores.reach, listening)
    transcripts = Transcripts(spaces, captioner, stores.reach, webhooks, hosting, outbox)
    grants_in_details = settings.admission.admit_anywhere and settings.admission.require_tickets
    documents = SpaceDocuments(
        settings, spaces, identity,
        join_grant=grant_admission.grant_for if grants_in_details else None,
        latency_tier=lambda space, listeners, now: tiers.announce(
            space.record.id, listeners, admissions.pressure.lag_s, now))
    ingest = IngestServer(settings, sources, source_watch)
    operator = OperatorListener(settings.ops.metrics_listen)
    return Services(
        settings=settings, stores=stores, cluster=cluster, reserve=reserve, identity=identity,
        captioner=captioner, leases=leases, spaces=spaces, watch=watch, news=news,
        admissions=admissions, grant_admission=grant_admission, hosting=hosting,
        sources=sources, speakers=speakers, ending=ending, rotation=rotation,
        key_watch=key_watch, source_watch=source_watch, shared_stage=shared_stage,
        trusted=trusted, lag=lag, tiers=tiers, webhooks=webhooks, space_watch=space_watch,
        analytics=analytics, transcripts=transcripts, documents=documents, ingest=ingest,
        operator=operator, seat_log=SeatLogRotation(settings))


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
