"""`townhall serve`'s flags default to `Settings`' own field defaults (never restated)."""

from __future__ import annotations

import argparse
from pathlib import Path

from townhall.commands import serve
from townhall.settings import Settings


def test_serve_flags_without_values_give_the_settings_defaults() -> None:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args([])
    defaults = Settings()
    assert (args.host, args.port, args.ingest_port) == (defaults.listen.host, defaults.listen.port,
                                                        defaults.listen.ingest_port)
    assert args.public_url == defaults.listen.public_url
    assert Path(args.data_dir) == defaults.store.data_dir
    assert (args.bitrate, args.idle_pause) == (defaults.media.bitrate, defaults.media.idle_pause_s)
    assert args.no_tickets is not defaults.admission.require_tickets
    assert args.migrate is defaults.store.migrate_on_start
    assert (args.attack_mode, args.redis_url, args.origin_tag, args.log_format) == (
        defaults.overload.attack_mode, defaults.cluster.redis_url, defaults.cluster.origin_tag,
        defaults.ops.log_format)
    assert args.trusted_proxy is None  # then run() takes Settings' trusted_proxies


def test_set_overrides_a_settings_field_by_its_type() -> None:
    assert serve._overrides(["max_listener_cap=5", "idle_pause_s=2.5"]) == {
        "max_listener_cap": 5, "idle_pause_s": 2.5}
