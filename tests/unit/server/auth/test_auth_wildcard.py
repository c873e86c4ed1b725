"""IAM wildcards match as fnmatch would, without backtracking."""

from __future__ import annotations

import fnmatch
import random

import pytest

from shardline.server.auth.wildcard import Wildcard


def test_random_patterns_agree_with_fnmatch() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        pattern = "".join(rng.choice("ab*?") for _ in range(rng.randint(0, 8)))
        text = "".join(rng.choice("abc") for _ in range(rng.randint(0, 10)))
        assert Wildcard.compile(pattern).matches(text) == fnmatch.fnmatchcase(text, pattern), (
            pattern,
            text,
        )


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (
            "arn:aws:kinesis:*:111122223333:stream/*",
            "arn:aws:kinesis:us-east-1:111122223333:stream/a",
            True,
        ),
        (
            "arn:aws:kinesis:*:111122223333:stream/*",
            "arn:aws:kinesis:us-east-1:444455556666:stream/a",
            False,
        ),
        ("*", "", True),
        ("a*", "a", True),
        ("*b", "ab", True),
        ("a*b", "ab", True),
        ("a*b", "a", False),
        ("*mid*", "a-mid-b", True),
        ("[a]", "[a]", True),  # no character classes in IAM patterns
    ],
)
def test_examples(pattern: str, text: str, expected: bool) -> None:
    assert Wildcard.compile(pattern).matches(text) is expected


def test_actions_ignore_case() -> None:
    assert Wildcard.compile("Kinesis:Put*", ignore_case=True).matches("kinesis:PUTRECORD")
    assert not Wildcard.compile("Kinesis:Put*").matches("kinesis:PutRecord")


def test_a_pattern_that_makes_regex_backtrack_is_answered_in_one_pass() -> None:
    # fnmatch/re take exponential time here; the automaton reads the text once.
    pattern = "*a" * 60 + "b"
    assert not Wildcard.compile(pattern).matches("a" * 100_000)
    assert Wildcard.compile(pattern).matches("a" * 100_000 + "b")
