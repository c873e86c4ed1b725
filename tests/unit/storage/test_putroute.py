"""storage/_putroute.c against the Python it replaced (commit 9002d78).

``hash_route`` must route every key where ``hashlib.md5`` and ``bisect`` did, with the
same sizes, and ``assign`` must hand out the keys and group the records as
``RecordLog._assign`` did. The references below restate that Python; the corpora are
seeded, so a failure reproduces.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import string
from collections.abc import Callable
from functools import partial

import pytest

from shardline.storage._putroute import assign, hash_route

#: The ``assert_no_leak`` fixture (tests/unit/conftest.py).
LeakCheck = Callable[..., None]
Batch = tuple[int, list[int], list[bytes], list[bytes]]

INT64_MAX = 2**63 - 1
NON_ASCII = "éü日本語😀"


def reference_hash_route(
    keys: list[str], datas: list[bytes], starts: list[bytes]
) -> tuple[list[bytes], list[int], list[int]]:
    """9002d78's ``RecordLog.put`` up to routing: UTF-8 keys, their sizes with the
    data, and the route of each key's MD5 (``Stream.route``'s bisect)."""
    encoded = [key.encode("utf-8") for key in keys]
    sizes = [len(raw) + len(data) for raw, data in zip(encoded, datas, strict=True)]
    routes = [bisect.bisect_right(starts, hashlib.md5(raw).digest()) - 1 for raw in encoded]
    return encoded, routes, sizes


def random_starts(rng: random.Random, count: int) -> list[bytes]:
    """A routing table: sorted, distinct 16-byte starts, the first one 0."""
    starts = {bytes(16)}
    while len(starts) < count:
        starts.add(rng.randbytes(16))
    return sorted(starts)


def even_starts(count: int) -> list[bytes]:
    """The table of ``count`` shards splitting the hash range evenly, as CreateStream
    makes it."""
    return [(i * (2**128 // count)).to_bytes(16, "big") for i in range(count)]


def random_key(rng: random.Random) -> str:
    chars = string.printable if rng.random() < 0.6 else NON_ASCII + "ab"
    return "".join(rng.choice(chars) for _ in range(rng.randrange(1, 40)))


@pytest.mark.parametrize("route_count", [1, 2, 4, 7, 100])
def test_hash_route_routes_as_md5_and_bisect_did(route_count: int) -> None:
    rng = random.Random(route_count)
    for starts in (random_starts(rng, route_count), even_starts(route_count)):
        keys = [random_key(rng) for _ in range(2000)]
        datas = [rng.randbytes(rng.randrange(0, 30)) for _ in keys]
        assert hash_route(keys, datas, starts) == reference_hash_route(keys, datas, starts)


def test_hash_route_uses_every_route_of_a_table() -> None:
    """Guards the comparison above: with 7 even routes, 2,000 keys reach them all."""
    keys = [f"key-{i}" for i in range(2000)]
    _, routes, _ = hash_route(keys, [b""] * len(keys), even_starts(7))
    assert set(routes) == set(range(7))


def test_hash_route_routes_a_digest_equal_to_a_start_to_that_start() -> None:
    digest = hashlib.md5(b"k").digest()
    for starts in (
        [bytes(16), digest],
        [bytes(16), digest, (int.from_bytes(digest) + 1).to_bytes(16)],
    ):
        assert hash_route(["k"], [b""], starts)[1] == [1]


def test_hash_route_of_no_records_is_three_empty_lists() -> None:
    assert hash_route([], [], [bytes(16)]) == ([], [], [])


def test_hash_route_refuses_a_key_utf8_cannot_encode() -> None:
    with pytest.raises(UnicodeEncodeError):
        hash_route(["ok", "lone \ud800 surrogate"], [b"", b""], [bytes(16)])


@pytest.mark.parametrize(
    "starts",
    [
        [],
        [bytes(15)],
        [bytes(17)],
        [bytes(16), b"\x80"],
        [bytearray(16)],
        ["0" * 16],
        [0],
    ],
    ids=["empty", "15 bytes", "17 bytes", "one short", "bytearray", "str", "int"],
)
def test_hash_route_refuses_a_bad_table(starts: list[object]) -> None:
    with pytest.raises(ValueError):
        hash_route(["k"], [b"x"], starts)  # type: ignore[arg-type]


def test_hash_route_refuses_a_key_below_every_start() -> None:
    """The table must begin at 0; the bisect's -1 would have been the last shard."""
    with pytest.raises(ValueError):
        hash_route(["k"], [b""], [b"\xff" * 16])


@pytest.mark.parametrize(
    ("keys", "datas", "starts", "error"),
    [
        (["a", "b"], [b""], [bytes(16)], ValueError),
        (["a"], [b"", b""], [bytes(16)], ValueError),
        (["a"], [b""], (bytes(16),), TypeError),
        (("a",), [b""], [bytes(16)], TypeError),
        (["a"], [""], [bytes(16)], TypeError),
        ([b"a"], [b""], [bytes(16)], TypeError),
    ],
)
def test_hash_route_refuses_lists_that_do_not_fit(
    keys: object, datas: object, starts: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        hash_route(keys, datas, starts)  # type: ignore[arg-type]


def reference_assign(
    routes: list[int],
    first_key: int,
    encoded: list[bytes],
    datas: list[bytes],
    admitted: list[bool] | None,
) -> list[Batch]:
    """9002d78's ``RecordLog._assign``, its batches keyed by route instead of by shard
    (one open shard per route): keys consecutive from first_key over the admitted
    records in call order, batches in the order of their route's first record."""
    keys = iter(range(first_key, INT64_MAX + 1))
    batches: dict[int, Batch] = {}
    for position, (route, key_bytes, data) in enumerate(zip(routes, encoded, datas, strict=True)):
        if admitted is not None and not admitted[position]:
            continue
        batch = batches.setdefault(route, (route, [], [], []))
        batch[1].append(next(keys))
        batch[2].append(key_bytes)
        batch[3].append(data)
    return list(batches.values())


def random_admission(rng: random.Random, count: int) -> list[bool] | None:
    kind = rng.randrange(4)
    if kind == 0:
        return None
    if kind == 1:
        return [True] * count
    if kind == 2:
        return [False] * count
    return [rng.random() < 0.7 for _ in range(count)]


@pytest.mark.parametrize("route_count", [1, 2, 4, 7, 100])
def test_assign_gives_keys_and_batches_as_the_python_did(route_count: int) -> None:
    rng = random.Random(route_count)
    for _ in range(60):
        count = rng.choice([0, 1, rng.randrange(1, 501)])
        # Routes often repeat runs, as keys of one producer do.
        routes = [rng.randrange(route_count) for _ in range(count)]
        encoded = [random_key(rng).encode() for _ in range(count)]
        datas = [rng.randbytes(rng.randrange(0, 20)) for _ in range(count)]
        admitted = random_admission(rng, count)
        first_key = rng.choice([0, rng.randrange(2**62), INT64_MAX - count])
        batches = assign(routes, route_count, first_key, encoded, datas, admitted)
        assert batches == reference_assign(routes, first_key, encoded, datas, admitted)
        # The batches hold the caller's objects, not copies.
        given = {id(item) for item in encoded + datas}
        assert all(id(item) in given for batch in batches for item in batch[2] + batch[3])


@pytest.mark.parametrize(
    ("admitted", "expected"),
    [
        (None, [(2, [10, 12], [b"a", b"c"], [b"A", b"C"]), (0, [11], [b"b"], [b"B"])]),
        ([True] * 3, [(2, [10, 12], [b"a", b"c"], [b"A", b"C"]), (0, [11], [b"b"], [b"B"])]),
        ([False, True, True], [(0, [10], [b"b"], [b"B"]), (2, [11], [b"c"], [b"C"])]),
        ([True, False, False], [(2, [10], [b"a"], [b"A"])]),
        ([False] * 3, []),
    ],
    ids=["none", "all admitted", "first refused", "last two refused", "all refused"],
)
def test_assign_keys_only_admitted_records_in_call_order(
    admitted: list[bool] | None, expected: list[Batch]
) -> None:
    routes, encoded, datas = [2, 0, 2], [b"a", b"b", b"c"], [b"A", b"B", b"C"]
    assert assign(routes, 3, 10, encoded, datas, admitted) == expected
    assert reference_assign(routes, 10, encoded, datas, admitted) == expected


class Flip:
    """True at its first truth test, False after."""

    def __init__(self) -> None:
        self.tests = 0

    def __bool__(self) -> bool:
        self.tests += 1
        return self.tests == 1


@pytest.mark.parametrize("admitted", [[True, Flip()], [1, 0], [True, None]])
def test_assign_takes_only_bools_as_admissions(admitted: list[object]) -> None:
    """A truth test runs Python code, which may answer differently in each of assign's
    passes: a Flip left a batch with an empty slot (and a different sequence crashed
    the process)."""
    with pytest.raises(TypeError):
        assign([0, 0], 1, 0, [b"a", b"b"], [b"A", b"B"], admitted)  # type: ignore[arg-type]


def test_assign_takes_keys_up_to_the_last_int64() -> None:
    batches = assign([0, 0], 1, INT64_MAX - 2, [b"a", b"b"], [b"", b""], None)
    assert batches == [(0, [INT64_MAX - 2, INT64_MAX - 1], [b"a", b"b"], [b"", b""])]


@pytest.mark.parametrize(
    ("routes", "route_count", "first_key", "lengths", "admitted", "error"),
    [
        ([0, 3], 3, 0, (2, 2), None, ValueError),  # a route past the table
        ([0, -1], 3, 0, (2, 2), None, ValueError),
        ([0], 0, 0, (1, 1), None, ValueError),  # no route at all
        ([0, 1], 3, 0, (1, 2), None, ValueError),  # encoded keys short
        ([0, 1], 3, 0, (2, 1), None, ValueError),  # payloads short
        ([0, 1], 3, 0, (2, 2), [True], ValueError),  # admissions short
        ([0], 3, -1, (1, 1), None, ValueError),  # a negative first key
        ([0], 3, INT64_MAX, (1, 1), None, ValueError),  # the key past int64
        ([0, 0], 3, INT64_MAX - 1, (2, 2), None, ValueError),
        ([0], 3, INT64_MAX + 1, (1, 1), None, OverflowError),
        (["0"], 3, 0, (1, 1), None, TypeError),  # a route that is not an int
        ([0], 3, 0, (1, 1), (True,), TypeError),  # admissions not a list
    ],
)
def test_assign_refuses_what_it_cannot_place(
    routes: list[int],
    route_count: int,
    first_key: int,
    lengths: tuple[int, int],
    admitted: object,
    error: type[Exception],
) -> None:
    encoded, datas = [b"k"] * lengths[0], [b"d"] * lengths[1]
    with pytest.raises(error):
        assign(routes, route_count, first_key, encoded, datas, admitted)  # type: ignore[arg-type]


def test_leaks_no_memory_hashing_and_routing(assert_no_leak: LeakCheck) -> None:
    # Routes and sizes past 256, so that each is a new int (CPython shares the small
    # ones, and a leaked reference to a shared int would show nowhere).
    keys = [f"key-{i}" for i in range(20)] + ["日本語"]
    datas = [bytes(300 + i) for i in range(len(keys))]
    starts = even_starts(300)
    assert max(hash_route(keys, datas, starts)[1]) > 256
    assert_no_leak(partial(hash_route, keys, datas, starts), *keys, *datas, *starts)
    surrogate = [*keys, "\udc80"]  # fails after every other key was encoded
    assert_no_leak(
        partial(hash_route, surrogate, [*datas, b""], starts), *keys, raises=UnicodeEncodeError
    )
    bad_starts = [*starts, b"short"]
    assert_no_leak(partial(hash_route, keys, datas, bad_starts), *starts, raises=ValueError)
    assert_no_leak(partial(hash_route, keys, datas, [b"\xff" * 16]), *keys, raises=ValueError)
    not_bytes: list[object] = [*datas[:-1], "text"]
    assert_no_leak(
        partial(hash_route, keys, not_bytes, starts),  # type: ignore[arg-type]
        *keys,
        raises=TypeError,
    )


def test_leaks_no_memory_assigning_keys(assert_no_leak: LeakCheck) -> None:
    routes = [297 + i % 3 for i in range(30)]  # past 256: see the test above
    encoded = [f"key-{i}".encode() for i in range(30)]
    datas = [bytes(i) for i in range(30)]
    admitted = [i % 4 != 0 for i in range(30)]
    for admission in (None, admitted):
        assert_no_leak(
            partial(assign, routes, 300, 2**40, encoded, datas, admission), *encoded, *datas
        )
    bad_route = [*routes[:-1], 300]  # found after 29 records were counted
    assert_no_leak(
        partial(assign, bad_route, 300, 0, encoded, datas, None), *encoded, raises=ValueError
    )
    assert_no_leak(
        partial(assign, routes, 300, -1, encoded, datas, None), *encoded, raises=ValueError
    )
    not_bools: list[object] = [*admitted[:-1], 1]  # found after 29 records were counted
    assert_no_leak(
        partial(assign, routes, 300, 0, encoded, datas, not_bools),  # type: ignore[arg-type]
        *encoded,
        raises=TypeError,
    )
