"""What the edge config does for isolation: capped origin connections, a cache key without
junk queries, the edge secret, the seats log; and secrets that would break the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from townhall.delivery.edge_config import EdgeSettings, render

SECRET = "0123456789abcdef0123456789abcdef"


def conf(tmp_path: Path, **kw: object) -> str:
    return render(EdgeSettings(origins=("a=10.0.0.1:8000", "b=10.0.0.2:8000"),
                               ticket_secret=SECRET, prefix=str(tmp_path), **kw))  # type: ignore[arg-type]


def test_every_origin_server_has_a_connection_cap(tmp_path: Path) -> None:
    text = conf(tmp_path, origin_max_conns=77, origin_hold_conns=33)
    servers = [line for line in text.splitlines() if line.strip().startswith("server 10.")]
    # hashed upstreams over the equal origins: media (capped, failing over) and blocking
    # reloads (capped apart; a hold that times out never marks an origin down)
    media = [line for line in servers if "max_conns=77" in line]
    holds = [line for line in servers if "max_conns=33" in line]
    assert len(servers) == 4 and len(media) == 2 and len(holds) == 2
    assert all("max_fails=1" in line for line in media)
    assert all("max_fails=0" in line for line in holds)


def test_media_is_keyed_and_proxied_by_the_hls_directives_only(tmp_path: Path) -> None:
    text = conf(tmp_path)
    assert 'proxy_cache_key "$sp/$rest?$hls_query$townhall_fresh$townhall_gzip";' in text
    assert "proxy_pass http://$townhall_pool$uri?$hls_query;" in text
    # an expired ticket's media, fetched with the ticket the renewal check gave the edge
    assert ("proxy_pass http://$townhall_pool/live/$sp/t/$townhall_ticket/$rest?$hls_query;"
            in text)
    assert "$is_args$args" not in text


def test_the_edge_proves_itself_with_the_secret_and_logs_seat_starts(tmp_path: Path) -> None:
    text = conf(tmp_path, edge_secret="s3cr3t")
    assert text.count('proxy_set_header X-Townhall-Edge "s3cr3t";') >= 10
    assert f"access_log {tmp_path}/seats.log townhall_seats" in text
    bare = conf(tmp_path)
    assert 'proxy_set_header X-Townhall-Edge "";' in bare  # a client's own header is dropped


@pytest.mark.parametrize("secret", ["a b", "x;y", 'q"', "{}", "$x", "a\\b"])
def test_secrets_that_would_break_the_file_are_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValueError, match="plain tokens"):
        conf(tmp_path, edge_secret=secret)


def test_only_the_routes_whose_edge_key_holds_the_query_read_one() -> None:
    """A cached answer that depends on the query must be keyed with it at the edge: the live
    playlists (the HLS directives, `sid` only without tickets, never through the edge) and
    clips by time (`clip?from=&to=`, keyed by its canonical query); oEmbed, which the edge
    never caches (`location = /oembed`). A route that starts reading a query needs its edge
    location keyed by it (or never cached), and this list updated."""
    web = Path(__file__).parents[2] / "townhall" / "web"
    readers = sorted(p.name for p in web.rglob("*.py")
                     if "query_params" in p.read_text() or "query_string" in p.read_text())
    assert readers == ["media.py", "oembed.py", "signed_replay.py"], readers
    assert "location = /oembed {\n" in render(EdgeSettings(origins=("127.0.0.1:8000",),
                                                            ticket_secret="s"))
