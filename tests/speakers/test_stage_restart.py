"""The stage outlives a restart of the origin: a removed speaker stays removed, a host's mute
holds, and an invited speaker can still go live with the link they were given. On both
stores: SQLite, and PostgreSQL (where the restarted origin could be any other)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.server import start_server, stop_server
from harness.whip_client import WhipClient
from tests.speakers.stage_helpers import auth, call, invite

ARGS = ("--set", "ice_host_addresses=127.0.0.1", "--set", "whip_candidate_networks=127.0.0.0/8")


def test_a_removed_speaker_stays_removed_after_the_origin_restarts(tmp_path: Path,
                                                                   database: str) -> None:
    data = tmp_path / "data"
    # (a shared, loaded CPU must not shed the stage calls this test makes)
    args = (*ARGS, "--database", database, "--migrate", "--set", "shed_lag_scale=8")
    srv = start_server(data, *args)
    try:
        space = srv.create_space()
        troll = invite(srv, space, "Troll")
        loud = invite(srv, space, "Loud")
        guest = invite(srv, space, "Grace")
        base = f"{srv.base_url}/api/spaces/{space['id']}/speakers"
        assert call("DELETE", f"{base}/{troll['id']}",
                    headers=auth(space["host_key"])).status_code == 200
        muted = call("POST", f"{base}/{loud['id']}/mute", headers=auth(space["host_key"]))
        assert muted.status_code == 200, muted.text
    finally:
        stop_server(srv)

    srv = start_server(data, *args)
    try:
        async def scenario() -> None:
            again = WhipClient(srv.base_url, space["id"], troll["token"], 440)
            refused = await again.post_offer()
            assert refused.status_code == 403 and refused.json()["error"] == "removed"
            await again.close()
            ok = WhipClient(srv.base_url, space["id"], guest["token"], 880)
            accepted = await ok.post_offer()
            assert accepted.status_code == 201, accepted.text
            await ok.delete()

        asyncio.run(scenario())
        base = f"{srv.base_url}/api/spaces/{space['id']}/speakers"
        unmute = call("POST", f"{base}/{loud['id']}/unmute", headers=auth(loud["token"]))
        assert unmute.status_code == 403 and unmute.json()["error"] == "muted_by_host"
    finally:
        stop_server(srv)
