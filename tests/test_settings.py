"""`Settings` is made of sections that check their own fields, named by their flat names."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from townhall.settings import (
    FIELDS,
    FLAT,
    SECTIONS,
    ClusterSettings,
    MediaSettings,
    Settings,
    SettingsError,
    default,
)


def test_flat_names_route_to_their_sections_and_the_rest_keep_defaults() -> None:
    s = Settings.of(port=9000, shed_lag_scale=20, captions=True, lease_ttl_s=2.0)
    assert (s.listen.port, s.overload.shed_lag_scale) == (9000, 20)
    assert (s.captioning.captions, s.cluster.lease_ttl_s) == (True, 2.0)
    assert s.media == MediaSettings()
    moved = s.replace(port=9001, bitrate=96000)
    assert (moved.listen.port, moved.media.bitrate, moved.cluster.lease_ttl_s) == \
        (9001, 96000, 2.0)
    assert s.listen.port == 9000  # frozen: replace made a copy


def test_every_flat_name_is_in_exactly_one_section() -> None:
    names = [f.name for kind in SECTIONS.values() for f in fields(kind)]
    assert len(names) == len(set(names)) == len(FIELDS)
    assert not set(SECTIONS) & set(FLAT)  # a section is never spelled like a field
    assert FLAT["base_url"] == "listen" and FLAT["database_path"] == "store"
    assert "max_reaction_kinds" not in FIELDS  # never read: removed


def test_a_section_refuses_a_bad_field_in_one_line_naming_it() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bitrate": 5}, "bitrate: must be between"),
        ({"redis_replica_wait_ms": -1}, "redis_replica_wait_ms: "),
        ({"lease_renew_s": 5.0}, "lease_renew_s: must be positive and "
        "shorter than lease_ttl_s"),
        ({"origin_tag": "TOO-LONG"}, "origin_tag: "),
        ({"whip_candidate_networks": "10.0.0.0/8,nope"},
        "whip_candidate_networks: 'nope' is not a CIDR"),
        ({"cors_origins": "ftp://x"}, "cors_origins: "),
        ({"latency_tier": "fast"}, "latency_tier: "),
        ({"captions_threads": 0}, "captions_threads: "),
        ({"whip_operator_reserved": 256}, "whip_operator_reserved: must be at least 0 and "
         "below whip_max_sessions"),
    ]
    for flat, message in cases:
        with pytest.raises(SettingsError, match=message) as refused:
            Settings.of(**flat)
        assert "\n" not in str(refused.value)
    with pytest.raises(SettingsError, match="lease_renew_s"):
        ClusterSettings(lease_renew_s=0)  # a section checks itself alone too


def test_checks_between_sections_run_when_the_whole_is_made() -> None:
    with pytest.raises(SettingsError, match="ingest_buffer_ms: must exceed jitter_prebuffer_ms"):
        Settings.of(ingest_buffer_ms=100)
    with pytest.raises(SettingsError, match="ingest_buffer_ms"):
        Settings().replace(jitter_prebuffer_ms=6000, jitter_ceiling_ms=7000)


def test_an_unknown_flat_name_is_refused_with_the_near_ones() -> None:
    with pytest.raises(TypeError, match="no field 'shed_lag_scal'; did you mean shed_lag_scale"):
        Settings.of(shed_lag_scal=2)
    with pytest.raises(TypeError, match="no field 'listen'"):
        Settings().replace(listen=None)


def test_secrets_are_made_per_settings_and_kept_out_of_repr() -> None:
    a, b = Settings(), Settings()
    assert a.admission.ticket_secret != b.admission.ticket_secret
    assert a.recording.secret != b.recording.secret
    assert a.admission.ticket_secret not in repr(a)
    assert default("ticket_secret") != default("ticket_secret")
    assert default("port") == 8000


def test_the_architecture_page_lists_every_section_with_its_field_count() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()
    for name, kind in SECTIONS.items():
        assert f"| `{name}` | `{kind.__name__}` | {len(fields(kind))} |" in page, name


def test_every_field_round_trips_through_its_flat_name() -> None:
    base = Settings()
    for name, (section, _field) in FIELDS.items():
        value = getattr(getattr(base, section), name)
        assert getattr(getattr(base.replace(**{name: value}), section), name) == value, name
        assert getattr(Settings.of(**{name: default(name)}), section) is not None
