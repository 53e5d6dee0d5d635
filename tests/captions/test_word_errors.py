"""The word error rate's normalising (harness/speech.py): the same for the reference and the
recogniser's text, so a number written in digits or a capital or a comma is no error."""

from __future__ import annotations

from harness.speech import word_errors, words


def test_numbers_case_and_punctuation_are_normalised_alike_on_both_sides() -> None:
    assert word_errors("The meeting will start at seven.", "the meeting will start at 7") \
        == (0, 6)
    assert words("12,000 people in 1905") == ["twelve", "thousand", "people", "in", "one",
                                              "thousand", "nine", "hundred", "five"]
    assert words("Well-known, isn't it?") == ["well", "known", "isn't", "it"]


def test_a_joined_unit_is_a_word_of_its_own() -> None:
    # "at 7am" said as "at seven": one inserted word, not a substitution of two
    assert word_errors("start at seven in the evening", "start at 7am in the evening") == (1, 6)
