"""The rendered edge configuration, byte for byte, for every combination of settings the tests
and benches render (`tests/delivery/golden/*.conf`). A change of output must be deliberate:
regenerate with `python -m tests.delivery.test_edge_config_golden` and read the diff."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from townhall.delivery.edge_config import EdgeSettings, render

GOLDEN = Path(__file__).parent / "golden"
SECRET = "0123456789abcdef0123456789abcdef"
PREFIX = "/var/lib/townhall-edge-golden"

CASES: dict[str, EdgeSettings] = {
    # tests/delivery/test_edge_config.py
    "one_origin": EdgeSettings(origins=("127.0.0.1:8000",), ticket_secret=SECRET,
                               listen="127.0.0.1:18080", prefix=PREFIX, worker_connections=512),
    "two_origins": EdgeSettings(origins=("127.0.0.1:8000", "127.0.0.1:8001"),
                                ticket_secret=SECRET, listen="127.0.0.1:18080", prefix=PREFIX,
                                worker_connections=512),
    "three_origins": EdgeSettings(origins=("10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"),
                                  ticket_secret=SECRET, listen="127.0.0.1:18080",
                                  prefix=PREFIX, worker_connections=512),
    # tests/delivery/test_edge_config_security.py
    "tagged_defaults": EdgeSettings(origins=("a=10.0.0.1:8000", "b=10.0.0.2:8000"),
                                    ticket_secret=SECRET, prefix=PREFIX),
    "tagged_max_conns": EdgeSettings(origins=("a=10.0.0.1:8000", "b=10.0.0.2:8000"),
                                     ticket_secret=SECRET, prefix=PREFIX, origin_max_conns=77),
    "tagged_edge_secret": EdgeSettings(origins=("a=10.0.0.1:8000", "b=10.0.0.2:8000"),
                                       ticket_secret=SECRET, prefix=PREFIX,
                                       edge_secret="s3cr3t"),
    # tests/edge_helpers.py (`townhall edge-config` with an origin's edge secret)
    "helper_edge": EdgeSettings(origins=("127.0.0.1:8000",), ticket_secret=SECRET,
                                listen="127.0.0.1:18080", prefix=PREFIX,
                                worker_connections=4096, edge_secret="s3cr3t"),
    "helper_cluster": EdgeSettings(origins=("o0=127.0.0.1:8000", "o1=127.0.0.1:8001"),
                                   ticket_secret=SECRET, listen="127.0.0.1:18080",
                                   prefix=PREFIX, worker_connections=4096, edge_secret="s3cr3t"),
    # bench/edge_scale.py; the CLI's --user and --cors-origin
    "bench_scale": EdgeSettings(origins=("127.0.0.1:8000",), ticket_secret=SECRET,
                                listen="127.0.0.1:18080", prefix=PREFIX,
                                worker_connections=65536, rlimit_nofile=131072,
                                edge_secret="s3cr3t"),
    "cors_user_extra": EdgeSettings(origins=("127.0.0.1:8000",), ticket_secret=SECRET,
                                    prefix=PREFIX, user="townhall",
                                    cors_origins="https://a.example,https://b.example",
                                    extra_http=["    # extra\n"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rendered_configuration_is_the_golden_one(name: str) -> None:
    assert render(CASES[name]) == (GOLDEN / f"{name}.conf").read_text()


if __name__ == "__main__":
    GOLDEN.mkdir(exist_ok=True)
    for case, s in CASES.items():
        (GOLDEN / f"{case}.conf").write_text(render(s))
    print(f"wrote {len(CASES)} files under {GOLDEN}", file=sys.stderr)
