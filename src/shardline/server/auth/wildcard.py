"""IAM wildcard patterns (``*`` and ``?``), matched in linear time.

Why not ``fnmatch`` or a regular expression: both backtrack, and a policy pattern
such as ``*a*a*a*a*b`` against a long ARN takes time exponential in the number of
stars. Here a pattern is compiled once into a bit-parallel automaton (one bit per
pattern position, Shift-And with a self-loop on each star), so matching reads each
character of the text once: O(len(text) × ⌈len(pattern)/64⌉) machine steps, with
no backtracking whatever the input. Patterns without wildcards, or with stars only
at the ends, take a plain string comparison instead.

- ``*`` matches any sequence of characters (also none);
- ``?`` matches exactly one character;
- actions compare case-insensitively (``kinesis:putrecord``), as IAM does;
  resources and principals exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _collapse_stars(pattern: str) -> str:
    out: list[str] = []
    for char in pattern:
        if char == "*" and out and out[-1] == "*":
            continue
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Wildcard:
    """A compiled pattern. Example::

    >>> Wildcard.compile("arn:aws:kinesis:*:111122223333:stream/orders-?").matches(
    ...     "arn:aws:kinesis:us-east-1:111122223333:stream/orders-7")
    True
    """

    pattern: str
    ignore_case: bool = False
    #: Bit j is set for the positions a character may advance (its own, and every ``?``).
    _masks: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _any: int = field(default=0, repr=False, compare=False)
    _stars: int = field(default=0, repr=False, compare=False)
    _width: int = field(default=0, repr=False, compare=False)

    @classmethod
    def compile(cls, pattern: str, ignore_case: bool = False) -> Wildcard:
        items = _collapse_stars(pattern.lower() if ignore_case else pattern)
        masks: dict[str, int] = {}
        any_mask = stars = 0
        for position, char in enumerate(items):
            bit = 1 << position
            if char == "*":
                stars |= bit
            elif char == "?":
                any_mask |= bit
            else:
                masks[char] = masks.get(char, 0) | bit
        for char in masks:
            masks[char] |= any_mask
        return cls(items, ignore_case, masks, any_mask, stars, len(items))

    @property
    def literal(self) -> bool:
        """True when the pattern has no wildcard (it matches only itself)."""
        return not self._stars and not self._any

    def matches(self, text: str) -> bool:
        """Whether ``text`` matches, reading ``text`` once (see module docstring)."""
        if self.ignore_case:
            text = text.lower()
        pattern = self.pattern
        if self.literal:
            return text == pattern
        if not self._any and pattern.count("*") <= 2:
            head, _, rest = pattern.partition("*")
            if not rest:
                return text.startswith(head)  # "head*" (or "*")
            if not head and rest.endswith("*") and "*" not in rest[:-1]:
                return rest[:-1] in text  # "*middle*"
            if "*" not in rest:
                return (
                    len(text) >= len(head) + len(rest)
                    and text.startswith(head)
                    and text.endswith(rest)
                )  # "head*tail"
        return self._run(text)

    def _run(self, text: str) -> bool:
        masks, any_mask, stars = self._masks, self._any, self._stars
        state = 1 | ((1 & stars) << 1)  # start, plus what a leading star allows
        for char in text:
            state = ((state & masks.get(char, any_mask)) << 1) | (state & stars)
            state |= (state & stars) << 1  # a star may also match nothing
            if not state:
                return False
        return bool(state >> self._width & 1)
