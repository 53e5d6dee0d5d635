from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.admission.tickets import (
    Check,
    TicketSigner,
    grace_answer,
)

SECRET = "s3cretTicketKey0123"


def test_issued_ticket_is_valid_until_it_expires() -> None:
    signer = TicketSigner(SECRET)
    t = signer.issue("abcdefghij", "seat1", 1000)
    assert signer.check("abcdefghij", str(t), 999.0) == (Check.VALID, "seat1")
    assert signer.check("abcdefghij", str(t), 1000.5) == (Check.EXPIRED, "seat1")


def test_ticket_hash_is_what_nginx_secure_link_md5_computes() -> None:
    # secure_link_md5 "$exp$space$seat <secret>"; base64url without padding
    t = TicketSigner(SECRET).issue("abcdefghij", "seat1", 1234567890)
    raw = hashlib.md5(f"1234567890abcdefghijseat1 {SECRET}".encode()).digest()
    assert t.token == base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_ticket_for_one_space_is_forged_for_another() -> None:
    signer = TicketSigner(SECRET)
    t = signer.issue("abcdefghij", "seat1", 1000)
    assert signer.check("zzzzzzzzzz", str(t), 0)[0] is Check.FORGED


def test_ticket_signed_with_another_secret_is_forged() -> None:
    t = TicketSigner("anotherSecretKey99").issue("abcdefghij", "seat1", 1000)
    assert TicketSigner(SECRET).check("abcdefghij", str(t), 0)[0] is Check.FORGED


@given(st.text(max_size=80))
def test_arbitrary_strings_are_never_valid_tickets(s: str) -> None:
    verdict, _ = TicketSigner(SECRET).check("abcdefghij", s, 0)
    assert verdict in (Check.MALFORMED, Check.FORGED)


@given(st.integers(min_value=0, max_value=21), st.sampled_from("ABCxyz019-_"))
def test_changing_any_token_character_forges_it(pos: int, ch: str) -> None:
    signer = TicketSigner(SECRET)
    t = signer.issue("abcdefghij", "seat1", 5000)
    token = t.token[:pos] + ch + t.token[pos + 1:]
    verdict, _ = signer.check("abcdefghij", f"seat1.5000.{token}", 0)
    assert verdict is (Check.VALID if token == t.token else Check.FORGED)


def test_changing_the_expiry_forges_the_ticket() -> None:
    signer = TicketSigner(SECRET)
    t = signer.issue("abcdefghij", "seat1", 5000)
    assert signer.check("abcdefghij", f"seat1.9999.{t.token}", 0)[0] is Check.FORGED


def test_weak_or_unsafe_secrets_are_refused() -> None:
    for bad in ("short", "has space in it 1234", "quote'inside12345678"):
        with pytest.raises(ValueError):
            TicketSigner(bad)


def test_a_grace_answer_lasts_one_ticket_lifetime_and_its_upstream_ticket_the_seat() -> None:
    # seats of 120 s, tickets 30 s shorter: the edge asks again after 90 s, 30 s before
    # the seat would lapse, and fetches meanwhile with a ticket valid until then
    answer = grace_answer(seat_expires=1120.5, now=1000.5, grace_s=30)
    assert answer.reuse_s == 90.0 and answer.upstream_expires == 1120
    # a seat with little left (its longest life reached): half of what is left, at least 1 s
    assert grace_answer(1010.0, 1000.0, 30).reuse_s == 5.0
    assert grace_answer(1000.5, 1000.0, 30).reuse_s == 1.0
