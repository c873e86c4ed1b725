"""Sealing, key rotation and the local store's atomic writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shardline.state import KeyRing, LocalStore, StateIntegrityError, StateKeyError
from shardline.state.crypto import open_sealed, seal


def ring(*ids: str) -> KeyRing:
    return KeyRing.parse("\n".join(KeyRing.generate_line(i) for i in ids))


def test_sealed_data_opens_only_with_its_associated_data() -> None:
    keys = ring("k1")
    sealed, envelope = seal(b"state", b"manifest", keys)
    assert b"state" not in sealed and envelope["key_id"] == "k1"
    assert open_sealed(sealed, b"manifest", envelope, keys, "x") == b"state"
    with pytest.raises(StateIntegrityError, match="tampered"):
        open_sealed(sealed, b"manifest-changed", envelope, keys, "x")
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(StateIntegrityError, match="tampered"):
        open_sealed(flipped, b"manifest", envelope, keys, "x")


def test_rotation_keeps_old_key_ids_readable_and_seals_with_the_newest() -> None:
    old = ring("k1")
    sealed, envelope = seal(b"old state", b"aad", old)
    rotated = KeyRing({**old.keys, "k2": ring("k2").keys["k2"]}, "k2")
    assert open_sealed(sealed, b"aad", envelope, rotated, "x") == b"old state"
    assert seal(b"new", b"aad", rotated)[1]["key_id"] == "k2"
    with pytest.raises(StateKeyError, match="'k1'"):
        open_sealed(sealed, b"aad", envelope, ring("k2"), "x")


def test_key_ring_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys"
    path.write_text(
        f"# rotated monthly\n{KeyRing.generate_line('a')}\n{KeyRing.generate_line('b')}\n"
    )
    assert KeyRing.from_file(path).current == "b"
    monkeypatch.setenv("SHARDLINE_STATE_KEYS", KeyRing.generate_line("env"))
    env = KeyRing.from_env()
    assert env is not None and env.current == "env"
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing.parse("short:AAAA")


def test_plain_checksum_detects_corruption() -> None:
    sealed, envelope = seal(b"state", b"aad", None)
    with pytest.raises(StateIntegrityError, match="checksum"):
        open_sealed(b"statf", b"aad", envelope, None, "x")


def test_local_store_puts_atomically_and_lists_by_prefix(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)

    async def scenario() -> None:
        await store.put("app/checkpoints/s1/1.state", b"a")
        await store.put("app/checkpoints/s1/1.state", b"b")
        await store.put("app/checkpoints/s2/1.state", b"c")
        (tmp_path / "app/checkpoints/s1/.tmp-2.state.x").write_bytes(b"half")
        assert await store.get("app/checkpoints/s1/1.state") == b"b"
        assert await store.list("app/checkpoints/s1/") == ["app/checkpoints/s1/1.state"]
        assert len(await store.list("app/")) == 2
        await store.copy("app/checkpoints/s2/1.state", "app/snap/1.state")
        await store.delete("app/checkpoints/s2/1.state")
        await store.delete("app/checkpoints/s2/1.state")
        assert await store.get("app/snap/1.state") == b"c"

    asyncio.run(scenario())
