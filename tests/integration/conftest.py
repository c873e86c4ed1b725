"""Fixtures of the integration tests: the JS SDK, and a region that verifies signatures."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import ACCOUNT, FAST, OTHER_ACCOUNT, READER_POLICY, SecureRegion, create_key

from shardline.testing import RegionProcess

INTEROP = Path(__file__).resolve().parents[1] / "interop"
JS_SCRIPT = "kinesis_js_sdk.mjs"


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the JS SDK script and the SDK, installed exactly as locked."""
    npm = shutil.which("npm")
    assert npm is not None, "these tests need Node.js and npm on PATH"
    directory = tmp_path_factory.mktemp("js-sdk")
    for name in ("package.json", "package-lock.json", JS_SCRIPT):
        shutil.copy(INTEROP / name, directory / name)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        check=True,
        timeout=300,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def secure_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRegion]:
    """One authenticating region per test module, with instant state transitions."""
    directory = tmp_path_factory.mktemp("secure")
    path = directory / "credentials.toml"
    policy = directory / "reader.json"
    policy.write_text(json.dumps(READER_POLICY))
    admin = create_key(path, ACCOUNT, "--admin", "--user", "operator")
    owner = create_key(path, ACCOUNT, "--user", "owner")
    reader = create_key(path, ACCOUNT, "--user", "reader", "--policy", str(policy))
    other = create_key(path, OTHER_ACCOUNT, "--user", "partner")
    process = RegionProcess(directory / "data", *FAST, "--credentials", str(path))
    with process:
        yield SecureRegion(process, admin, owner, reader, other)
