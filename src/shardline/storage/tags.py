"""Tag rules: which characters a tag may hold, and how many tags a stream may have.

AWS checks every key and value it is given (AddTagsToStream, TagResource and
CreateStream's tags; the keys of RemoveTagsFromStream and UntagResource) against the
characters Kinesis allows: Unicode letters, digits and white space, and ``_ . / = +
- % @``. "White space" is Unicode's space separators (category Z), so a tab or a line
break is refused, as on AWS.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from shardline.errors import InvalidArgumentException

MAX_TAGS = 50
_SYMBOLS = frozenset("_./=+-%@")
#: Unicode categories allowed: letters (L*), numbers (N*) and space separators (Z*).
_CATEGORIES = ("L", "N", "Z")


def _allowed(char: str) -> bool:
    return char in _SYMBOLS or unicodedata.category(char).startswith(_CATEGORIES)


def check_characters(texts: Iterable[str]) -> None:
    """Refuse tag keys or values holding a character Kinesis does not allow.

    Error handling: ``InvalidArgumentException`` with AWS's message, naming the
    allowed characters.
    """
    if not all(_allowed(char) for text in texts for char in text):
        raise InvalidArgumentException(
            "Some tags contain invalid characters. Valid characters: "
            "Unicode letters, digits, white space, _ . / = + - % @."
        )


def check_tags(tags: Mapping[str, str]) -> None:
    """Check the characters of every key and value of ``tags``."""
    check_characters(tags)
    check_characters(tags.values())


def check_count(existing: Mapping[str, str], added: Mapping[str, str]) -> None:
    """Refuse a change that would leave a stream with more than ``MAX_TAGS`` tags."""
    if len(set(existing) | set(added)) > MAX_TAGS:
        raise InvalidArgumentException(
            f"Failed to add tags to stream because a given stream cannot have more than "
            f"{MAX_TAGS} tags associated with it."
        )
