"""Every limit and knob of a townhall process, in one typed object built at start.

No module reads the environment; the CLI builds Settings and passes it down.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    # --- where it listens and how it names itself ---
    host: str = "127.0.0.1"
    port: int = 8000  # HTTP: API, pages, LL-HLS
    ingest_port: int = 8001  # Icecast-compatible source ingest (PUT/SOURCE)
    public_url: str | None = None  # base URL put in links; default http://host:port
    ingest_public_host: str | None = None  # host put in ingest URLs; default host
    # --- storage ---
    data_dir: Path = Path("data")
    database: Path | None = None  # default <data_dir>/townhall.sqlite3
    recordings_dir: Path | None = None  # default <data_dir>/recordings
    # --- media ---
    sample_rate: int = 48000  # Hz, program PCM and AAC
    bitrate: int = 64000  # bit/s, AAC-LC program
    part_frames: int = 15  # AAC frames (1024 samples) per part: 0.32 s
    parts_per_segment: int = 7  # 2.24 s segments
    keep_segments: int = 8  # complete segments kept in memory and listed
    jitter_prebuffer_ms: int = 150  # audio held before a source is mixed in
    jitter_ceiling_ms: int = 1000  # a source further ahead than this is trimmed
    idle_pause_s: float = 30.0  # silence kept on air after the last source leaves
    # --- limits ---
    max_json_body: int = 16 * 1024  # bytes, control API request bodies
    max_title_chars: int = 200
    max_host_chars: int = 100
    max_listener_cap: int = 10_000_000
    max_spaces_listed: int = 200
    ingest_max_header_bytes: int = 16 * 1024
    ingest_header_timeout_s: float = 10.0
    ingest_idle_timeout_s: float = 10.0  # a source silent on the wire this long is dropped
    ingest_probe_bytes: int = 32 * 1024  # bytes read to recognise the ingest format
    ingest_max_queue_bytes: int = 2 * 1024 * 1024  # backpressure on a fast pusher
    block_reload_target_durations: float = 3.0  # §6.2.5.2: 503 after this many
    listener_window_s: float = 10.0  # a listener counts while seen this recently
    max_tracked_listeners: int = 1_000_000  # per space, memory bound of the counter
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def database_path(self) -> Path:
        return self.database or self.data_dir / "townhall.sqlite3"

    @property
    def recordings_path(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def ingest_host(self) -> str:
        return self.ingest_public_host or self.host

    def validate(self) -> None:
        if not 8000 <= self.bitrate <= 320000:
            raise ValueError("bitrate must be between 8000 and 320000 bit/s")
        if self.part_frames < 2 or self.parts_per_segment < 2:
            raise ValueError("part_frames and parts_per_segment must be at least 2")
        if self.jitter_ceiling_ms <= self.jitter_prebuffer_ms:
            raise ValueError("jitter_ceiling_ms must exceed jitter_prebuffer_ms")
