"""`townhall serve`'s flags default to `Settings`' own field defaults (never restated), and
`--set` takes any field by its flat name."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from townhall.commands import serve
from townhall.settings import FIELDS, Settings, default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser


def test_every_serve_flag_defaults_to_its_settings_field() -> None:
    by_dest = {a.dest: a for a in _parser()._actions}
    for flag, name, _keywords in serve.FLAGS:
        assert name in FIELDS, flag
        action = by_dest[name]
        assert action.option_strings == [flag]
        if flag in serve.DEFAULT_NONE:  # None: "as Settings says" (a URL, a list, a kept secret)
            assert action.default is None, flag
        else:
            assert action.default == default(name), flag
    # nothing else but --set, --log-level (uvicorn's) and --help
    assert set(by_dest) - {name for _f, name, _k in serve.FLAGS} == {"set", "log_level", "help"}


def test_serve_flags_without_values_give_the_settings_defaults() -> None:
    args = _parser().parse_args([])
    defaults = Settings()
    assert (args.host, args.port, args.data_dir) == (defaults.listen.host, defaults.listen.port,
                                                     defaults.store.data_dir)
    assert args.require_tickets is defaults.admission.require_tickets
    assert args.captions is defaults.captioning.captions
    assert args.trusted_proxies is None  # then run() takes Settings' trusted_proxies
    assert not _parser().parse_args(["--no-tickets"]).require_tickets


def test_set_overrides_a_settings_field_by_its_type() -> None:
    assert serve._overrides(["max_listener_cap=5", "idle_pause_s=2.5", "signing=false",
                             "shed_lag_scale=20"]) == {
        "max_listener_cap": 5, "idle_pause_s": 2.5, "signing": False, "shed_lag_scale": 20.0}


def test_an_unknown_or_unreadable_set_is_one_line_naming_near_fields() -> None:
    with pytest.raises(SystemExit, match=r"unknown setting 'shed_lag_scal'; did you mean "
                                         r"shed_lag_scale\?"):
        serve._overrides(["shed_lag_scal=20"])
    with pytest.raises(SystemExit, match="max_listener_cap takes a number"):
        serve._overrides(["max_listener_cap=lots"])


def test_a_refused_setting_stops_serve_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from townhall import cli

    assert cli.main(["serve", "--data-dir", str(tmp_path), "--set", "bitrate=5"]) == 2
    assert capsys.readouterr().err == \
        "townhall: bitrate: must be between 8000 and 320000 bit/s\n"
