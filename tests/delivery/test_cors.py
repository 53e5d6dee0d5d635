"""The CORS policy: public media and listener calls open, host and operator calls closed."""

from __future__ import annotations

import pytest

from townhall.delivery.cors import Audience, CorsPolicy, audience, parse_origins


@pytest.mark.parametrize(("method", "path", "kind"), [
    ("GET", "/live/abc/t/s.1.x/media.m3u8", Audience.PUBLIC),
    ("GET", "/replay/abc.m4a", Audience.PUBLIC),
    ("GET", "/api/spaces", Audience.PUBLIC),
    ("GET", "/api/spaces/abc", Audience.PUBLIC),
    ("POST", "/api/spaces/abc/join", Audience.PUBLIC),
    ("POST", "/api/admit/abc", Audience.PUBLIC),
    ("POST", "/api/spaces/abc/leave", Audience.PUBLIC),
    ("POST", "/api/spaces", Audience.HOST),
    ("POST", "/api/spaces/abc/end", Audience.HOST),
    ("GET", "/api/spaces/abc/host", Audience.HOST),
    ("GET", "/api/admin/metrics", Audience.HOST),
    ("PUT", "/api/admin/attack-mode", Audience.HOST),
    ("GET", "/spaces/abc", None),
    ("POST", "/whip/abc", None),
    # the public record: a verifier page on another site checks a replay with it
    ("GET", "/record/abc/manifest.json", Audience.PUBLIC),
    ("GET", "/record/abc/checkpoints/latest.json", Audience.PUBLIC),
    ("GET", "/.well-known/townhall-signing.json", Audience.PUBLIC),
    ("GET", "/.well-known/security.txt", None),
    ("GET", "/.well-known/townhall-signing.json.bak", None),
])
def test_requests_are_public_or_host_by_method_and_path(method: str, path: str,
                                                         kind: Audience | None) -> None:
    assert audience(method, path) is kind


def test_by_default_any_site_reads_media_but_no_site_drives_the_host_api() -> None:
    policy = CorsPolicy()
    assert dict(policy.headers("GET", "/api/spaces/abc", "https://news.example"))[
        "Access-Control-Allow-Origin"] == "*"
    pre = dict(policy.headers("POST", "/api/spaces/abc/join", "https://news.example", True))
    assert pre["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in pre["Access-Control-Allow-Headers"]
    assert policy.headers("POST", "/api/spaces/abc/end", "https://news.example", True) == []
    assert policy.headers("GET", "/api/spaces/abc", None) == []  # same-origin: nothing
    assert all("Credentials" not in k for k, _ in pre.items())


def test_listed_origins_are_echoed_with_vary_and_others_refused() -> None:
    policy = CorsPolicy.from_settings("https://a.example, http://b.example:8080",
                                      "https://console.example")
    got = dict(policy.headers("GET", "/live/x/media.m3u8", "http://b.example:8080"))
    assert got["Access-Control-Allow-Origin"] == "http://b.example:8080"
    assert got["Vary"] == "Origin"
    assert policy.headers("GET", "/live/x/media.m3u8", "https://evil.example") == []
    host = dict(policy.headers("POST", "/api/spaces/x/end", "https://console.example", True))
    assert "Authorization" in host["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("bad", ["news.example", "https://a.example/path", "ftp://x"])
def test_a_malformed_origin_setting_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_origins(bad)
