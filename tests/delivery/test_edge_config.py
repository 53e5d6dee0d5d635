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


def test_one_origin_needs_no_tag_and_several_need_distinct_tags_of_one_length() -> None:
    assert parse_origins(("127.0.0.1:8000",)) == [("", "127.0.0.1:8000")]
    assert parse_origins(("a=10.0.0.1:8000", "b=10.0.0.2:8000")) == [
        ("a", "10.0.0.1:8000"), ("b", "10.0.0.2:8000")]
    for bad in (("10.0.0.1:8000", "10.0.0.2:8000"), ("a=10.0.0.1:8000", "a=10.0.0.2:8000"),
                ("a=10.0.0.1:8000", "bb=10.0.0.2:8000"), ("A=10.0.0.1:8000",),
                ("a=",), ()):
        with pytest.raises(ValueError):
            parse_origins(bad)


def test_each_space_is_routed_to_the_origin_whose_tag_begins_its_id(tmp_path: Path) -> None:
    conf = render(settings(tmp_path, "a=10.0.0.1:8000", "b=10.0.0.2:8000"))
    assert "upstream townhall_o_a {\n        server 10.0.0.1:8000" in conf
    assert "upstream townhall_o_b {\n        server 10.0.0.2:8000" in conf
    assert "~^a townhall_o_a;" in conf and "~^b townhall_o_b;" in conf
    assert "default townhall_any;" in conf
    assert "proxy_pass http://townhall_origin" not in conf and "hash $space" not in conf
    # every location that names a space sets $space, so the map can route it
    blocks = re.findall(r'location ~ "([^"]*\(\?<sp>[^"]*)" \{(.*?)\n        \}', conf, re.S)
    assert len(blocks) >= 6
    for where, body in blocks:
        assert "set $space $sp;" in body, where
    routed = re.findall(r'location ~ "(\^/[^"]*)"', conf)
    for path in ("/live/", "/api/spaces/", "/whip/", "/(replay|spaces|record)/"):
        assert any(r.startswith("^" + path) for r in routed), path


@pytest.mark.parametrize("origins", [("127.0.0.1:8000",),
                                     ("a=127.0.0.1:8000", "b=127.0.0.1:8001")])
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
