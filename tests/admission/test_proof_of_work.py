from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townhall.admission.proof_of_work import ProofOfWork, leading_zero_bits, solve


def test_a_solved_challenge_is_accepted_once() -> None:
    pow_ = ProofOfWork(b"k" * 32)
    ch = pow_.challenge(10, now=100)
    sol = solve(ch, 10)
    assert pow_.verify(ch, sol, now=101) is None
    assert pow_.verify(ch, sol, now=102) == "challenge already used"


def test_wrong_solution_expired_or_foreign_challenges_are_refused() -> None:
    pow_ = ProofOfWork(b"k" * 32, ttl_s=60)
    ch = pow_.challenge(16, now=0)
    bad = next(str(c) for c in range(10_000) if leading_zero_bits(
        hashlib.sha256(f"{ch}:{c}".encode()).digest()) < 16)
    assert pow_.verify(ch, bad, now=1) == "solution does not meet the difficulty"
    assert "expired" in (pow_.verify(ch, solve(ch, 16), now=61) or "")
    other = ProofOfWork(b"x" * 32).challenge(1, now=0)
    assert pow_.verify(other, solve(other, 1), now=1) == "challenge was not issued here"


def test_difficulty_cannot_be_lowered_by_editing_the_challenge() -> None:
    pow_ = ProofOfWork(b"k" * 32)
    ch = pow_.challenge(20, now=0)
    parts = ch.split(".")
    easy = ".".join([parts[0], "1", parts[2], parts[3]])
    assert pow_.verify(easy, solve(easy, 1), now=1) == "challenge was not issued here"


@given(st.binary(min_size=32, max_size=32))
def test_leading_zero_bits_counts_bits(digest: bytes) -> None:
    n = leading_zero_bits(digest)
    as_int = int.from_bytes(digest, "big")
    assert n == (256 if as_int == 0 else 256 - as_int.bit_length())


@given(st.text(max_size=40), st.text(max_size=25))
def test_garbage_never_verifies(challenge: str, solution: str) -> None:
    assert ProofOfWork(b"k" * 32).verify(challenge, solution, now=0) is not None


def test_difficulty_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        ProofOfWork(b"k" * 32).challenge(99, now=0)
