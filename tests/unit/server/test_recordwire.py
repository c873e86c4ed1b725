"""server/_recordwire.c against the Python it replaced.

``decode_entries`` must make the old fast path's decision for every record list (the
same payloads and keys, or None so the model-driven converter reports AWS's error),
``render_put_results`` must write the bytes orjson wrote for the old result dicts
(both as of commit 9002d78), and ``render_records`` the bytes orjson writes for
``RecordList``'s dicts. The references below restate that Python; the corpora are
seeded, so a failure reproduces.
"""

from __future__ import annotations

import base64
import binascii
import random
import string
from collections.abc import Callable
from functools import partial
from typing import Any

import cbor2
import orjson
import pytest

from shardline.server import model
from shardline.server._recordwire import decode_entries, render_put_results, render_records
from shardline.server.handlers.records import RecordList
from shardline.storage.catalog import MAX_SHARD_INDEX, shard_id
from shardline.storage.entries import PutEntries
from shardline.storage.sequence import COUNTER_BITS, sequence_prefix, shard_suffix

#: PutRecordsRequestEntry's limits in botocore's model (PartitionKey 1-256 characters,
#: Data at most 1 MiB), as ``model._put_entries`` passes them.
KEY_MIN, KEY_MAX, DATA_MAX = 1, 256, 1024 * 1024

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
#: Characters a mutated Data text may gain: '=' and others outside the alphabet.
STRAYS = "=-_ \n\t.é€"
NON_ASCII_KEY_CHARS = "éü日本語😀"

Decoded = tuple[list[bytes], list[str]] | None
#: The ``assert_no_leak`` fixture (tests/unit/conftest.py).
LeakCheck = Callable[..., None]


def reference_decode(records: Any, key_min: int, key_max: int, data_max: int) -> Decoded:
    """The fast path of ``_put_entries.convert`` at 9002d78, less its list-length check
    (which stayed in Python): None where it broke out to the fallback."""
    if type(records) is not list:
        return None
    datas: list[bytes] = []
    keys: list[str] = []
    try:
        for item in records:
            if type(item) is not dict or len(item) != 2:
                return None
            key = item.get("PartitionKey")
            text = item.get("Data")
            if type(key) is not str or type(text) is not str:
                return None
            if not key_min <= len(key) <= key_max or len(text) % 4:
                return None
            if text and text[-1] == "=" and not canonical_padding(text):
                return None
            data = binascii.a2b_base64(text, strict_mode=True)
            if len(data) > data_max:
                return None
            datas.append(data)
            keys.append(key)
    except (binascii.Error, ValueError):
        return None
    return datas, keys


def canonical_padding(text: str) -> bool:
    """9002d78's ``_canonical_padding``: the character before the padding carries no
    bit the decoded bytes leave unused."""
    if text[-2] == "=":
        return text[-3] in "AQgw"
    return text[-2] in "AEIMQUYcgkosw048"


class Record(dict[str, object]):
    """A dict subclass: the old fast path took only exact dicts."""


class Text(str):
    """A str subclass: the old fast path took only exact str."""


def record(data: object = "QUJD", key: object = "k") -> dict[str, object]:
    return {"Data": data, "PartitionKey": key}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


EDGE_CASES: dict[str, tuple[Any, int, int, int]] = {
    "empty list": ([], KEY_MIN, KEY_MAX, DATA_MAX),
    "not a list": ((record(),), KEY_MIN, KEY_MAX, DATA_MAX),
    "a dict, not a list": (record(), KEY_MIN, KEY_MAX, DATA_MAX),
    "empty data": ([record("")], KEY_MIN, KEY_MAX, DATA_MAX),
    "no padding": ([record("QUJD")], KEY_MIN, KEY_MAX, DATA_MAX),
    "one pad": ([record("QUI=")], KEY_MIN, KEY_MAX, DATA_MAX),
    "two pads": ([record("QQ==")], KEY_MIN, KEY_MAX, DATA_MAX),
    "longer with one pad": ([record("QUJDREU=")], KEY_MIN, KEY_MAX, DATA_MAX),
    "longer with two pads": ([record("QUJDRA==")], KEY_MIN, KEY_MAX, DATA_MAX),
    "every canonical two-pad char": (
        [record(c + "==") for c in ("AA", "AQ", "Ag", "Aw", "/w")],
        KEY_MIN,
        KEY_MAX,
        DATA_MAX,
    ),
    "non-canonical two pads QR==": ([record("QR==")], KEY_MIN, KEY_MAX, DATA_MAX),
    "non-canonical one pad QUJ=": ([record("QUJ=")], KEY_MIN, KEY_MAX, DATA_MAX),
    "non-canonical after a full quad": ([record("QUJDRB==")], KEY_MIN, KEY_MAX, DATA_MAX),
    "'=' in the middle": ([record("QU=DREVG")], KEY_MIN, KEY_MAX, DATA_MAX),
    "padded quad then more": ([record("QQ==QUJD")], KEY_MIN, KEY_MAX, DATA_MAX),
    "'=' then data in the last quad": ([record("QUJDA=A=")], KEY_MIN, KEY_MAX, DATA_MAX),
    "three pads": ([record("Q===")], KEY_MIN, KEY_MAX, DATA_MAX),
    "only pads": ([record("====")], KEY_MIN, KEY_MAX, DATA_MAX),
    "leading pad": ([record("=QUJ")], KEY_MIN, KEY_MAX, DATA_MAX),
    "'-' (urlsafe)": ([record("QU-D")], KEY_MIN, KEY_MAX, DATA_MAX),
    "'_' (urlsafe)": ([record("QU_D")], KEY_MIN, KEY_MAX, DATA_MAX),
    "a space": ([record("QU D")], KEY_MIN, KEY_MAX, DATA_MAX),
    "a newline": ([record("QUJD\nQUJD")], KEY_MIN, KEY_MAX, DATA_MAX),
    "a trailing newline": ([record("QUJ\n")], KEY_MIN, KEY_MAX, DATA_MAX),
    "a NUL": ([record("QUJ\0")], KEY_MIN, KEY_MAX, DATA_MAX),
    "non-ASCII data": ([record("QUJé")], KEY_MIN, KEY_MAX, DATA_MAX),
    "non-ASCII data of length 4 in UTF-8": ([record("QUé")], KEY_MIN, KEY_MAX, DATA_MAX),
    "length 1": ([record("Q")], KEY_MIN, KEY_MAX, DATA_MAX),
    "length 2": ([record("QU")], KEY_MIN, KEY_MAX, DATA_MAX),
    "length 3": ([record("QUJ")], KEY_MIN, KEY_MAX, DATA_MAX),
    "length 5": ([record("QUJDR")], KEY_MIN, KEY_MAX, DATA_MAX),
    "data at data_max": ([record(b64(b"x" * 5))], KEY_MIN, KEY_MAX, 5),
    "data one over data_max": ([record(b64(b"x" * 6))], KEY_MIN, KEY_MAX, 5),
    "data at data_max, no padding": ([record(b64(b"x" * 6))], KEY_MIN, KEY_MAX, 6),
    "data at 1 MiB": ([record(b64(bytes(DATA_MAX)))], KEY_MIN, KEY_MAX, DATA_MAX),
    "data over 1 MiB": ([record(b64(bytes(DATA_MAX + 1)))], KEY_MIN, KEY_MAX, DATA_MAX),
    "empty data over data_max 0": ([record("")], KEY_MIN, KEY_MAX, 0),
    "key at min - 1": ([record(key="")], KEY_MIN, KEY_MAX, DATA_MAX),
    "key at min": ([record(key="k")], KEY_MIN, KEY_MAX, DATA_MAX),
    "key at max": ([record(key="k" * KEY_MAX)], KEY_MIN, KEY_MAX, DATA_MAX),
    "key at max + 1": ([record(key="k" * (KEY_MAX + 1))], KEY_MIN, KEY_MAX, DATA_MAX),
    "non-ASCII key at max characters": ([record(key="日" * KEY_MAX)], KEY_MIN, KEY_MAX, DATA_MAX),
    "non-ASCII key over max": ([record(key="é" * (KEY_MAX + 1))], KEY_MIN, KEY_MAX, DATA_MAX),
    "astral key at max": ([record(key="😀" * KEY_MAX)], KEY_MIN, KEY_MAX, DATA_MAX),
    "key min 3, key of 2": ([record(key="ab")], 3, KEY_MAX, DATA_MAX),
    "a third member": (
        [{"Data": "QUJD", "PartitionKey": "k", "ExplicitHashKey": "1"}],
        KEY_MIN,
        KEY_MAX,
        DATA_MAX,
    ),
    "an unknown third member": ([{**record(), "Other": None}], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data missing": ([{"PartitionKey": "k"}], KEY_MIN, KEY_MAX, DATA_MAX),
    "PartitionKey missing": ([{"Data": "QUJD"}], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data missing, two members": ([{"PartitionKey": "k", "X": 1}], KEY_MIN, KEY_MAX, DATA_MAX),
    "key missing, two members": ([{"Data": "QUJD", "X": 1}], KEY_MIN, KEY_MAX, DATA_MAX),
    "a non-str dict key": ([{"Data": "QUJD", 1: "k"}], KEY_MIN, KEY_MAX, DATA_MAX),
    "empty dict": ([{}], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data int": ([record(1234)], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data bytes": ([record(b"QUJD")], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data None": ([record(None)], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data list": ([record(["QUJD"])], KEY_MIN, KEY_MAX, DATA_MAX),
    "Data str subclass": ([record(Text("QUJD"))], KEY_MIN, KEY_MAX, DATA_MAX),
    "key int": ([record(key=7)], KEY_MIN, KEY_MAX, DATA_MAX),
    "key bytes": ([record(key=b"k")], KEY_MIN, KEY_MAX, DATA_MAX),
    "key None": ([record(key=None)], KEY_MIN, KEY_MAX, DATA_MAX),
    "key list": ([record(key=["k"])], KEY_MIN, KEY_MAX, DATA_MAX),
    "key str subclass": ([record(key=Text("k"))], KEY_MIN, KEY_MAX, DATA_MAX),
    "a dict subclass": ([Record(record())], KEY_MIN, KEY_MAX, DATA_MAX),
    "a record that is a list": ([["QUJD", "k"]], KEY_MIN, KEY_MAX, DATA_MAX),
    "a record that is None": ([None], KEY_MIN, KEY_MAX, DATA_MAX),
    "good records then a bad one": (
        [record(), record(key="k2"), record("QR==")],
        KEY_MIN,
        KEY_MAX,
        DATA_MAX,
    ),
    "a bad record then good ones": ([record(1), record(), record()], KEY_MIN, KEY_MAX, DATA_MAX),
    "many good records": (
        [record(b64(bytes([i % 256]) * i), f"key-{i}") for i in range(500)],
        KEY_MIN,
        KEY_MAX,
        DATA_MAX,
    ),
}


@pytest.mark.parametrize("case", EDGE_CASES, ids=list(EDGE_CASES))
def test_decode_entries_decides_edge_cases_as_the_python_did(case: str) -> None:
    records, key_min, key_max, data_max = EDGE_CASES[case]
    expected = reference_decode(records, key_min, key_max, data_max)
    assert decode_entries(records, key_min, key_max, data_max) == expected


def test_decode_entries_accepts_the_plain_edge_cases() -> None:
    """The references agree on these only if they are not both None: a guard against a
    reference that refuses everything."""
    for case in ("empty data", "one pad", "two pads", "data at data_max", "astral key at max"):
        records, key_min, key_max, data_max = EDGE_CASES[case]
        assert reference_decode(records, key_min, key_max, data_max) is not None, case


def random_text(rng: random.Random) -> str:
    """Base64 of random bytes, half of the time damaged in one of the ways a client
    can get it wrong."""
    text = b64(rng.randbytes(rng.randrange(0, 40)))
    if rng.random() < 0.5 or not text:
        return text
    at = rng.randrange(len(text))
    damage = rng.randrange(5)
    if damage == 0:  # a stray character
        return text[:at] + rng.choice(STRAYS) + text[at + 1 :]
    if damage == 1:  # one character short
        return text[:at] + text[at + 1 :]
    if damage == 2:  # padding added
        return text[:-1] + "=" if text[-1] != "=" else text + "===="
    if damage == 3 and "=" in text:  # the last data character's unused bits set
        last = text.index("=") - 1
        return text[:last] + rng.choice(ALPHABET) + text[last + 1 :]
    return text[:at] + rng.choice(ALPHABET) + text[at + 1 :]


def random_key(rng: random.Random) -> str:
    size = rng.choice([0, 1, 2, rng.randrange(1, 30), KEY_MAX - 1, KEY_MAX, KEY_MAX + 1])
    chars = string.printable if rng.random() < 0.7 else NON_ASCII_KEY_CHARS + "ab"
    return "".join(rng.choice(chars) for _ in range(size))


def random_record(rng: random.Random) -> object:
    """Mostly the plain case; now and then a record of a shape only the model-driven
    converter may judge."""
    item: dict[str, object] = {"Data": random_text(rng), "PartitionKey": random_key(rng)}
    roll = rng.random()
    if roll < 0.03:
        item["ExplicitHashKey"] = "1"
    elif roll < 0.06:
        del item[rng.choice(["Data", "PartitionKey"])]
    elif roll < 0.09:
        item[rng.choice(["Data", "PartitionKey"])] = rng.choice([1, b"QUJD", None, ["x"]])
    elif roll < 0.1:
        return Record(item)
    return item


def test_decode_entries_agrees_with_the_python_on_a_random_corpus() -> None:
    rng = random.Random(20261130)
    corpus = [random_record(rng) for _ in range(4000)]
    data_max = 24  # below the longest payloads, so the bound is crossed often
    outcomes = {True: 0, False: 0}
    for item in corpus:
        expected = reference_decode([item], KEY_MIN, KEY_MAX, data_max)
        assert decode_entries([item], KEY_MIN, KEY_MAX, data_max) == expected, item
        outcomes[expected is not None] += 1
    # Both decisions are made often enough for the comparison to mean something.
    assert min(outcomes.values()) > 1000, outcomes
    at = 0
    while at < len(corpus):
        size = rng.choice([1, 2, 3, 5, 8])
        chunk = corpus[at : at + size]
        at += size
        expected = reference_decode(chunk, KEY_MIN, KEY_MAX, data_max)
        assert decode_entries(chunk, KEY_MIN, KEY_MAX, data_max) == expected, chunk


def test_decode_entries_decodes_every_length_and_byte() -> None:
    rng = random.Random(7)
    records = [record(b64(rng.randbytes(size)), f"k{size}") for size in range(300)]
    records.append(record(b64(bytes(range(256))), "all bytes"))
    decoded = decode_entries(records, KEY_MIN, KEY_MAX, DATA_MAX)
    assert decoded is not None
    assert decoded == reference_decode(records, KEY_MIN, KEY_MAX, DATA_MAX)
    assert decoded[0][-1] == bytes(range(256))


class DataName:
    """A member name that hashes and compares as "Data", and notes each comparison."""

    compared = 0

    def __hash__(self) -> int:
        return hash("Data")

    def __eq__(self, other: object) -> bool:
        DataName.compared += 1
        return other == "Data"


def test_decode_entries_runs_no_python_code_of_a_member_name() -> None:
    """Python code run while the records are read could change them under the C (a
    name's __eq__ that emptied the list crashed the server's process): such a record
    goes to the model-driven converter, which reads it as the fast path did."""
    odd = [{"PartitionKey": "k", DataName(): "QUJD"}]
    DataName.compared = 0
    assert decode_entries(odd, KEY_MIN, KEY_MAX, DATA_MAX) is None
    assert DataName.compared == 0
    assert parse_records(odd) == PutEntries([b"ABC"], ["k"])


def test_decode_entries_leaves_members_named_by_a_str_subclass_to_the_model() -> None:
    odd = [{Text("PartitionKey"): "k", "Data": "QUJD"}]
    assert decode_entries(odd, KEY_MIN, KEY_MAX, DATA_MAX) is None
    assert parse_records(odd) == parse_records([record("QUJD", "k")])


def test_decode_entries_rejects_limits_that_are_not_ints() -> None:
    with pytest.raises(TypeError):
        decode_entries([record()], "1", KEY_MAX, DATA_MAX)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decode_entries([record()], KEY_MIN, KEY_MAX)  # type: ignore[call-arg]


def reference_results(routes: list[int], first_key: int, shards: list[int]) -> bytes:
    """What 9002d78's ``_put_results`` built for a call whose every record was stored
    (record i has key first_key + i on shard shards[routes[i]]), as orjson wrote it."""
    prefix = sequence_prefix()
    return orjson.dumps(
        [
            {
                "SequenceNumber": f"{prefix}{first_key + i:024d}{shard_suffix(shards[route])}",
                "ShardId": shard_id(shards[route]),
            }
            for i, route in enumerate(routes)
        ]
    )


def render(routes: list[int], first_key: int, shards: list[int]) -> bytes:
    """render_put_results as the PutRecords handler calls it."""
    return render_put_results(
        routes, first_key, [shard_suffix(s) for s in shards], [shard_id(s) for s in shards]
    )


@pytest.mark.parametrize("route_count", [1, 2, 4, 7, 100])
def test_render_put_results_writes_what_orjson_wrote(route_count: int) -> None:
    rng = random.Random(route_count)
    top_key = 2**63 - 1
    for _ in range(40):
        shards = rng.sample(range(MAX_SHARD_INDEX + 1), route_count)
        shards[0] = rng.choice([0, MAX_SHARD_INDEX, shards[0]])
        count = rng.choice([1, 2, rng.randrange(1, 501), 500])
        routes = [rng.randrange(route_count) for _ in range(count)]
        first_key = rng.choice([0, rng.randrange(top_key - count + 1), top_key - count])
        out = render(routes, first_key, shards)
        expected = reference_results(routes, first_key, shards)
        assert out == expected
        assert orjson.loads(out) == orjson.loads(expected)


def test_render_put_results_of_no_records_is_an_empty_array() -> None:
    assert render_put_results([], 0, [shard_suffix(0)], [shard_id(0)]) == b"[]"
    assert render_put_results([], 5, [], []) == b"[]"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (([1], 0, ["0"], ["s"]), ValueError),  # route past the table
        (([-1], 0, ["0"], ["s"]), ValueError),
        (([0], 0, [], []), ValueError),  # no table at all
        (([0], 0, ["0"], ["s", "t"]), ValueError),  # suffixes and ids differ in length
        (([0], 0, ["é"], ["s"]), ValueError),  # a non-ASCII suffix
        (([0], 0, ["0"], ["shard-é"]), ValueError),  # a non-ASCII shard id
        (([0], 0, ['"'], ["s"]), ValueError),  # characters JSON escapes
        (([0], 0, ["0"], ["a\\b"]), ValueError),
        (([0], 0, ["0"], ["a\nb"]), ValueError),
        (([0], 0, ["\x1f"], ["s"]), ValueError),
        (([], 0, ["0", '"'], ["s", "t"]), ValueError),  # even where no record goes
        (([0], 0, [b"0"], ["s"]), ValueError),  # a suffix that is not a str
        (([0], -1, ["0"], ["s"]), ValueError),  # a negative first key
        (([0, 0], 2**63 - 2, ["0"], ["s"]), ValueError),  # the last key past int64
        (([0], 2**63, ["0"], ["s"]), OverflowError),
        (((0,), 0, ["0"], ["s"]), TypeError),  # routes not a list
        (([0], 0, ("0",), ["s"]), TypeError),
        (([0], 0, ["0"], ("s",)), TypeError),
        (([0], 0, ["0"], None), TypeError),
        ((["0"], 0, ["0"], ["s"]), TypeError),  # a route that is not an int
        (([0], "0", ["0"], ["s"]), TypeError),
    ],
)
def test_render_put_results_refuses_what_it_cannot_write(
    args: tuple[Any, Any, Any, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        render_put_results(*args)


def test_render_put_results_takes_the_last_int64_key() -> None:
    out = render([0, 0], 2**63 - 3, [3])
    assert out == reference_results([0, 0], 2**63 - 3, [3])


def parse_records(records: list[Any], protocol: model.Protocol = "json") -> PutEntries:
    params = model.parse_input("PutRecords", {"StreamName": "s", "Records": records}, protocol)
    entries = params["Records"]
    assert isinstance(entries, PutEntries)
    return entries


def test_parse_input_gives_the_same_entries_on_the_c_path_and_the_fallback() -> None:
    rng = random.Random(18)
    for _ in range(40):
        count = rng.randrange(1, 501)
        datas = [rng.randbytes(rng.randrange(0, 60)) for _ in range(count)]
        keys = [random_key(rng)[:KEY_MAX] or "k" for _ in range(count)]
        records = [record(b64(data), key) for data, key in zip(datas, keys, strict=True)]
        # The C path: decode_entries takes every plain record list.
        assert decode_entries(records, KEY_MIN, KEY_MAX, DATA_MAX) is not None
        direct = parse_records(records)
        assert direct == PutEntries(datas, keys)
        # The fallback, forced by one record with a member the model ignores ...
        marked = rng.randrange(count)
        odd = [dict(r, Unknown=1) if i == marked else r for i, r in enumerate(records)]
        assert decode_entries(odd, KEY_MIN, KEY_MAX, DATA_MAX) is None
        assert parse_records(odd) == direct
        # ... by one record with an explicit hash key ...
        hashed = [dict(r, ExplicitHashKey="7") if i == marked else r for i, r in enumerate(records)]
        explicit = [("7" if i == marked else None) for i in range(count)]
        assert parse_records(hashed) == PutEntries(datas, keys, explicit)
        # ... and by CBOR, whose Data is bytes already.
        cbor = [record(data, key) for data, key in zip(datas, keys, strict=True)]
        assert parse_records(cbor2.loads(cbor2.dumps(cbor)), "cbor") == direct


def test_leaks_no_memory_decoding_entries(assert_no_leak: LeakCheck) -> None:
    keys = [f"key-{i}" for i in range(8)]
    texts = [b64(bytes([i]) * (i * 3)) for i in range(8)]
    records = [record(text, key) for text, key in zip(texts, keys, strict=True)]
    assert_no_leak(lambda: decode_entries(records, KEY_MIN, KEY_MAX, DATA_MAX), *keys, *texts)
    # A fallback after some records were decoded, at each place the plain case can end.
    for bad in (record("QR=="), record(key=""), record(1), {"Data": "QUJD"}, Record(record())):
        mixed = [*records, bad]
        assert decode_entries(mixed, KEY_MIN, KEY_MAX, DATA_MAX) is None
        assert_no_leak(partial(decode_entries, mixed, KEY_MIN, KEY_MAX, DATA_MAX), *keys, bad)
    with_strays = [*records, record("QU=D")]  # refused while decoding, not before
    assert_no_leak(lambda: decode_entries(with_strays, KEY_MIN, KEY_MAX, DATA_MAX), *keys)
    assert_no_leak(
        lambda: decode_entries(records, "1", KEY_MAX, DATA_MAX),  # type: ignore[arg-type]
        records,
        raises=TypeError,
    )


def test_leaks_no_memory_rendering_results(assert_no_leak: LeakCheck) -> None:
    suffixes = [shard_suffix(i) for i in range(4)]
    ids = [shard_id(i) for i in range(4)]
    routes = [i % 4 for i in range(50)]
    assert_no_leak(lambda: render_put_results(routes, 12345, suffixes, ids), *suffixes, *ids)
    bad_route = [*routes, 4]
    assert_no_leak(
        lambda: render_put_results(bad_route, 0, suffixes, ids), *suffixes, raises=ValueError
    )
    bad_suffixes = [*suffixes[:3], "é"]
    assert_no_leak(
        lambda: render_put_results(routes, 0, bad_suffixes, ids), *ids, raises=ValueError
    )


#: Partition key characters JSON escapes, or that a writer might wrongly escape.
AWKWARD_KEY_CHARS = '"\\/\b\f\n\r\t\x00\x1f\x7f\u2028é日😀 ab'

StoredRecord = tuple[int, str, bytes, bool]


def reference_records(records: list[StoredRecord], shard_index: int) -> bytes:
    """What orjson writes for the records' dicts, as ``RecordList`` builds them for a
    codec that takes no fragment (the Python that render_records replaced)."""
    return orjson.dumps(RecordList(records, shard_index).as_dicts(binary=False))


def random_stored(rng: random.Random) -> StoredRecord:
    key = rng.choice([0, 1, rng.randrange(2**16), rng.randrange(2**63), 2**63 - 1])
    key_chars = string.ascii_letters if rng.random() < 0.5 else AWKWARD_KEY_CHARS
    partition_key = "".join(rng.choice(key_chars) for _ in range(rng.randrange(1, 30)))
    return key, partition_key, rng.randbytes(rng.randrange(0, 40)), rng.random() < 0.3


def test_render_records_writes_what_orjson_wrote() -> None:
    rng = random.Random(2026)
    for _ in range(60):
        shard_index = rng.choice([0, 1, MAX_SHARD_INDEX, rng.randrange(MAX_SHARD_INDEX)])
        records = [random_stored(rng) for _ in range(rng.choice([1, 2, rng.randrange(300)]))]
        out = render_records(records, shard_suffix(shard_index))
        assert out == reference_records(records, shard_index)


def test_render_records_writes_every_arrival_millisecond_as_orjson_did() -> None:
    """Arrivals are epoch milliseconds as float seconds: each trailing-zero case, and
    the instants of the current era and the far future."""
    base = 1_700_000_000_000
    millis = [0, 1, 10, 100, 999, 1000, 1001, 1010, 1100, *range(base, base + 1000, 7)]
    millis.append((2**63 - 1) >> COUNTER_BITS)
    records = [(ms << COUNTER_BITS, "k", b"", False) for ms in millis]
    assert render_records(records, shard_suffix(0)) == reference_records(records, 0)


def test_render_records_of_no_records_is_an_empty_array() -> None:
    assert render_records([], shard_suffix(0)) == b"[]"


@pytest.mark.parametrize(
    ("records", "suffix", "error"),
    [
        ([(0, "k", b"", False)], "é", ValueError),  # a non-ASCII suffix
        ([(0, "k", b"", False)], '0"', ValueError),  # a suffix JSON escapes
        ([(0, "k", b"", False)], 0, ValueError),  # a suffix that is not a str
        ([(0, "k", b"", 1)], "0", TypeError),  # encrypted must be a bool
        ([(0, "k", b"", None)], "0", TypeError),
        ([(0, "k", b"")], "0", TypeError),  # not four parts
        ([[0, "k", b"", False]], "0", TypeError),  # not a tuple
        ([(0, b"k", b"", False)], "0", TypeError),  # a key that is not a str
        ([(0, "k", "", False)], "0", TypeError),  # data that is not bytes
        ([("0", "k", b"", False)], "0", TypeError),  # a sequence key not an int
        ([(-1, "k", b"", False)], "0", OverflowError),
        ([(2**64, "k", b"", False)], "0", OverflowError),
        ([(0, "\ud800", b"", False)], "0", UnicodeEncodeError),
        (((0, "k", b"", False),), "0", TypeError),  # not a list
    ],
)
def test_render_records_refuses_what_it_cannot_write(
    records: Any, suffix: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        render_records(records, suffix)


class Flag:
    """A truth value that empties the records when tested."""

    def __init__(self, records: list[Any]) -> None:
        self.records = records

    def __bool__(self) -> bool:
        self.records.clear()
        return True


def test_render_records_runs_no_python_code_of_an_encrypted_flag() -> None:
    """render_records reads the records twice (sizing, then writing): a flag's truth
    test emptied the list between the two, and the second pass read past its end."""
    records: list[Any] = [(1, "k", b"a", False)] * 3
    records.insert(0, (0, "k", b"a", Flag(records)))
    with pytest.raises(TypeError):
        render_records(records, shard_suffix(0))
    assert len(records) == 4


def test_leaks_no_memory_rendering_records(assert_no_leak: LeakCheck) -> None:
    rng = random.Random(3)
    records = [random_stored(rng) for _ in range(40)]
    keys = [record[1] for record in records]
    suffix = shard_suffix(5)
    assert_no_leak(partial(render_records, records, suffix), *keys, suffix)
    bad: list[object] = [*records, (0, "k", b"", None)]  # found after 40 were sized
    assert_no_leak(
        partial(render_records, bad, suffix),  # type: ignore[arg-type]
        *keys,
        raises=TypeError,
    )
