"""The load generator refuses anything off loopback, before it opens a single socket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.cli import main
from townhall.loadtest import LoadConfig, NotLoopback, check_target, run_load
from townhall.loadtest.addresses import AddressPool
from townhall.loadtest.http import HttpClient
from townhall.loadtest.safety import Target, check_source


@pytest.mark.parametrize(("url", "host", "port"), [
    ("http://127.0.0.1:8000", "127.0.0.1", 8000),
    ("http://127.45.6.7:81/", "127.45.6.7", 81),
    ("http://localhost:8080", "127.0.0.1", 8080),
    ("http://[::1]:9000", "::1", 9000),
    ("http://127.0.0.1", "127.0.0.1", 80),
])
def test_loopback_targets_are_accepted(url: str, host: str, port: int) -> None:
    target = check_target(url)
    assert (target.host, target.port) == (host, port)


@pytest.mark.parametrize("url", [
    "http://10.0.0.1:8000", "http://192.168.1.10", "http://8.8.8.8:80", "http://0.0.0.0:8000",
    "http://example.com:8000", "http://127.0.0.1.example.com", "http://[::ffff:8.8.8.8]:80",
    "http://[2001:db8::1]:80", "https://127.0.0.1:8443", "ftp://127.0.0.1", "127.0.0.1:8000",
    "http://user:pw@127.0.0.1:8000", "http://127.0.0.1:99999",
])
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(NotLoopback):
        check_target(url)


def test_a_target_can_not_even_be_built_off_loopback() -> None:
    with pytest.raises(NotLoopback):
        Target("93.184.216.34", 80)
    with pytest.raises(NotLoopback):
        Target("localhost", 80)  # names only through check_target, which maps them


@given(a=st.integers(0, 255), b=st.integers(0, 255), c=st.integers(0, 255),
       d=st.integers(0, 255))
def test_an_ipv4_target_is_accepted_exactly_when_it_is_in_127_slash_8(a: int, b: int, c: int,
                                                                     d: int) -> None:
    url = f"http://{a}.{b}.{c}.{d}:8000"
    if a == 127:
        assert check_target(url).host == f"{a}.{b}.{c}.{d}"
    else:
        with pytest.raises(NotLoopback):
            check_target(url)


def test_source_addresses_must_be_ipv4_loopback() -> None:
    assert check_source("127.10.3.254") == "127.10.3.254"
    for bad in ("10.1.2.3", "::1", "0.0.0.0"):
        with pytest.raises(NotLoopback):
            check_source(bad)
    with pytest.raises(NotLoopback):
        HttpClient(check_target("http://127.0.0.1:1"), source="192.168.0.2")


@given(second=st.integers(1, 200), count=st.integers(1, 5000), per=st.integers(1, 254))
def test_address_pools_are_distinct_loopback_addresses_spread_over_networks(
        second: int, count: int, per: int) -> None:
    pool = AddressPool(second, count, per)
    sample = range(0, count, max(1, count // 300))
    addrs = [pool.address(i) for i in sample]
    assert len(set(addrs)) == len(addrs)
    assert all(a.startswith("127.") for a in addrs)
    nets = {a.rsplit(".", 1)[0] for a in (pool.address(i) for i in range(count))}
    assert len(nets) == pool.networks == -(-count // per)
    assert pool.address(count) == pool.address(0)  # wraps around


def test_the_default_attacker_pool_is_127_10_0_1_to_127_10_3_254() -> None:
    pool = LoadConfig(target="http://127.0.0.1:1", space="s").attack_pool()
    assert (pool.address(0), pool.address(1015), pool.networks) == ("127.10.0.1",
                                                                     "127.10.3.254", 4)


def test_run_load_refuses_a_remote_target_before_opening_any_socket(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sockets(*_: Any, **__: Any) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", no_sockets)
    config = LoadConfig(target="http://203.0.113.7:8000", space="abc", listeners=5,
                        duration_s=1, attacks=("join", "slow"))
    with pytest.raises(NotLoopback):
        asyncio.run(run_load(config))


def test_the_command_refuses_a_remote_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--target", "http://198.51.100.1:80", "--space", "abc",
                 "--quiet"]) == 2
    assert "not a loopback address" in capsys.readouterr().err


@pytest.mark.parametrize("changes", [
    {"listeners": -1}, {"duration_s": 0}, {"duration_s": 1e6}, {"mode": "dash"},
    {"attacks": ("nuke",)}, {"join_window_s": 5.0, "duration_s": 1.0}, {"space": "a/b"},
    {"attack_rate": 0}, {"slow_connections": 10**6},
])
def test_every_bound_is_checked_before_a_run(changes: dict[str, Any]) -> None:
    base: dict[str, Any] = {"target": "http://127.0.0.1:8000", "space": "abc"}
    with pytest.raises(ValueError):
        LoadConfig(**{**base, **changes}).validate()
