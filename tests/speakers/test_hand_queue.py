"""Raised hands are a bounded queue of their own: a flood of them never stops the host from
inviting, lowered hands free their place and stay lowered, one network holds only its share,
and the host's stage document stays small."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.server import Server, start_server, stop_server
from townhall.space.roles import Action, Problem, Role, SeatState, SpeakerTokens, Stage, StageError

NOW = 1_700_000_000.0


def stage(**kw: int) -> Stage:
    return Stage("space00001", SpeakerTokens(b"s" * 32), cap=3, max_seats=10, host_name="Ada",
                 now=NOW, **kw)


def test_a_thousand_hands_leave_the_invites_to_the_host() -> None:
    st = stage(max_hands=50, hands_per_address=2)
    refused = Counter[str]()
    for i in range(1040):
        try:
            st.raise_hand(f"h{i}", NOW + i, f"10.{i // 250}.{i % 250}.1")
        except StageError as exc:
            assert exc.problem is Problem.CONFLICT
            refused[exc.code] += 1
    assert len(st.hands) == 50 and refused == {"too_many_hands": 990}
    for i in range(9):  # max_seats 10 with the host: every invite still fits
        st.invite(st.host, f"s{i}", Role.SPEAKER, NOW)
    oldest = st.hands[0]
    st.apply(st.host, Action.LOWER, oldest, NOW)
    assert oldest.id not in st.seats and len(st.hands) == 49  # freed, not counted
    st.raise_hand("again", NOW, "10.9.9.9")


def test_one_address_has_at_most_its_hands_waiting() -> None:
    st = stage(hands_per_address=2)
    a = st.raise_hand("a", NOW, "10.0.0.1")
    st.raise_hand("b", NOW, "10.0.0.1")
    with pytest.raises(StageError, match="at most 2 hands"):
        st.raise_hand("c", NOW, "10.0.0.1")
    st.apply(a, Action.LOWER, a, NOW)  # lowering your own hand gives the place back
    st.raise_hand("c", NOW, "10.0.0.1")


def test_a_lowered_hand_stays_lowered_whatever_its_token_does() -> None:
    st = stage(hands_per_address=2)
    tokens = []
    for i in range(6):  # raise, keep the token, lower, raise again: the c23e430 flood
        hand = st.raise_hand(f"h{i}", NOW + i, "10.0.0.1")
        tokens.append(st.token_for(hand))
        st.apply(hand, Action.LOWER, hand, NOW + i)
    assert st.hands == []
    for token in tokens:  # each token once re-raised its hand (from outside the share)
        with pytest.raises(StageError) as refused:
            st.actor(token, NOW + 10)
        assert refused.value.code == "hand_lowered"
    assert st.hands == []
    removed = st.raise_hand("r", NOW, "10.0.0.2")
    token = st.token_for(removed)
    st.apply(st.host, Action.REMOVE, removed, NOW)
    with pytest.raises(StageError, match="lowered"):
        st.actor(token, NOW)


def test_a_raised_hand_keeps_its_token_across_a_restart() -> None:
    st = stage()
    hand = st.raise_hand("h", NOW, "10.0.0.1")
    token = st.token_for(hand)
    again = stage()
    again.restore(list(st.take_changes()))
    assert again.actor(token, NOW).state is SeatState.RAISED and len(again.hands) == 1


def test_one_network_holds_only_its_share_of_the_hands() -> None:
    st = stage(max_hands=200, hands_per_address=2, hands_per_network=10)
    codes = Counter[str]()
    for i in range(12):  # 12 addresses of one /24, and of one IPv6 /64
        for address in (f"192.0.2.{i}", f"2001:db8::{i:x}"):
            for _ in range(2):
                try:
                    st.raise_hand("h", NOW, address)
                    codes["raised"] += 1
                except StageError as exc:
                    codes[exc.code] += 1
    assert codes == {"raised": 20, "network_hands_raised": 28}, codes
    st.raise_hand("elsewhere", NOW, "198.51.100.1")  # other networks still raise


def test_removed_speakers_stay_revoked_and_an_approved_hand_is_an_invite() -> None:
    st = stage()
    guest = st.invite(st.host, "g", Role.SPEAKER, NOW)
    token = st.token_for(guest)
    st.apply(st.host, Action.REMOVE, guest, NOW)
    assert st.actor(token, NOW).state is SeatState.REMOVED
    hand = st.raise_hand("h", NOW, "10.0.0.2")
    st.apply(st.host, Action.APPROVE, hand, NOW)
    assert hand.role is Role.SPEAKER and hand not in st.hands


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("hands") / "data", "--attack-mode", "off")
    yield srv
    stop_server(srv)


def test_a_hand_flood_through_the_api_never_blocks_an_invite(server: Server,
                                                            tmp_path: Path) -> None:
    space = server.create_space(title="Hands")
    url = f"{server.base_url}/api/spaces/{space['id']}"
    host = {"Authorization": f"Bearer {space['host_key']}"}
    codes: Counter[int] = Counter()
    with httpx.Client(timeout=10) as client:
        for i in range(1040):  # from 1,040 addresses (the test is a trusted proxy)
            ip = f"10.{i // 200}.{i % 200}.7"
            r = client.post(f"{url}/hands", json={"name": f"hand {i}"},
                            headers={"X-Real-IP": ip})
            codes[r.status_code] += 1
        assert codes == {201: 200, 409: 840}, codes
        invited = client.post(f"{url}/speakers", json={"name": "Grace"}, headers=host)
        assert invited.status_code == 201, invited.text
        doc = client.get(f"{url}/speakers", headers=host)
        assert doc.status_code == 200 and len(doc.content) < 20_000
        assert doc.json()["hands_waiting"] == 200
        hands = [s for s in doc.json()["seats"] if s["state"] == "raised"]
        assert len(hands) == 50
        lowered = client.post(f"{url}/speakers/{hands[0]['id']}/lower", headers=host)
        assert lowered.status_code == 200
        again = client.post(f"{url}/hands", json={"name": "late"},
                            headers={"X-Real-IP": "10.99.0.1"})
        assert again.status_code == 201, again.text


def test_tokens_of_lowered_hands_never_refill_the_queue(server: Server) -> None:
    space = server.create_space(title="Lowered")
    url = f"{server.base_url}/api/spaces/{space['id']}"
    host = {"Authorization": f"Bearer {space['host_key']}"}
    tokens = []
    with httpx.Client(timeout=10) as client:
        for i in range(12):  # 12 addresses, each raising and lowering again and again
            for _ in range(5):
                ip = f"10.{100 + i}.0.1"
                r = client.post(f"{url}/hands", json={"name": "x"}, headers={"X-Real-IP": ip})
                assert r.status_code == 201, r.text
                token = r.json()["token"]
                tokens.append(token)
                me = {"Authorization": f"Bearer {token}", "X-Real-IP": ip}
                lowered = client.post(f"{url}/speakers/{r.json()['id']}/lower", headers=me)
                assert lowered.status_code == 200, lowered.text
        codes = Counter(client.get(f"{url}/speakers/me", headers={
            "Authorization": f"Bearer {t}", "X-Real-IP": f"10.150.{n}.1"}).status_code
                        for n, t in enumerate(tokens))
        assert codes == {403: 60}, codes  # on c23e430: 200, each hand raised again
        doc = client.get(f"{url}/speakers", headers=host).json()
        assert doc["hands_waiting"] == 0
        real = client.post(f"{url}/hands", json={"name": "real"},
                           headers={"X-Real-IP": "10.200.0.1"})
        assert real.status_code == 201, real.text
