"""The edge's nginx configuration: every request of a space goes to the origin that owns it,
and what is rendered is a configuration nginx itself accepts (`nginx -t`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from townhall.delivery.edge_config import EdgeSettings, directories, parse_origins, render

SECRET = "0123456789abcdef0123456789abcdef"


def settings(tmp_path: Path, *origins: str) -> EdgeSettings:
    return EdgeSettings(origins=origins, ticket_secret=SECRET, listen="127.0.0.1:18080",
                        prefix=str(tmp_path), worker_connections=512)


def test_origins_need_no_tag_and_each_is_named_once() -> None:
    assert parse_origins(("127.0.0.1:8000",)) == [("", "127.0.0.1:8000")]
    assert parse_origins(("10.0.0.1:8000", "b=10.0.0.2:8000")) == [
        ("", "10.0.0.1:8000"), ("b", "10.0.0.2:8000")]
    for bad in (("10.0.0.1:8000", "10.0.0.1:8000"), ("A=10.0.0.1:8000",), ("a=",), ()):
        with pytest.raises(ValueError):
            parse_origins(bad)


def test_a_space_hashes_to_one_origin_and_fails_over_to_the_next(tmp_path: Path) -> None:
    conf = render(settings(tmp_path, "10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"))
    assert "hash $townhall_hash consistent;" in conf
    for addr in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert f"server {addr}:8000 max_fails=1 fail_timeout=2s max_conns=512;" in conf
    assert "proxy_next_upstream error timeout http_502 http_504;" in conf
    assert 'default $space;' in conf and '"" $request_id;' in conf
    # no per-space route that one origin's death could break
    assert "townhall_o_" not in conf and "$townhall_upstream" not in conf
    # every location that names a space sets $space, so the hash keeps it on one origin
    blocks = re.findall(r'location ~ "([^"]*\(\?<sp>[^"]*)" \{(.*?)\n        \}', conf, re.S)
    assert len(blocks) >= 5
    for where, body in blocks:
        assert "set $space $sp;" in body, where
    routed = re.findall(r'location ~ "(\^/[^"]*)"', conf)
    for path in ("/live/", "/api/spaces/", "/whip/", "/replay/", "/spaces/", "/record/"):
        assert any(r.startswith("^" + path) for r in routed), path


@pytest.mark.parametrize("origins", [("127.0.0.1:8000",),
                                     ("127.0.0.1:8000", "127.0.0.1:8001")])
def test_nginx_accepts_the_rendered_configuration(tmp_path: Path,
                                                  origins: tuple[str, ...]) -> None:
    s = settings(tmp_path, *origins)
    for d in directories(s):
        Path(d).mkdir(parents=True, exist_ok=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render(s))
    check = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
