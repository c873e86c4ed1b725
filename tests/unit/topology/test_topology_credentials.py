"""A topology region carries its own credentials and signing region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shardline.credentials import CredentialsNotFound, StaticCredentials
from shardline.topology import TopologyError, parse_topology


def regions(**east: Any) -> dict[str, Any]:
    return {
        "regions": [
            {"name": "east", "role": "primary", "endpoint_url": "http://127.0.0.1:4567", **east},
            {"name": "west", "role": "standby", "endpoint_url": "http://127.0.0.1:4568"},
        ],
        "streams": [{"name": "ticker"}],
    }


def test_a_key_pair_and_signing_region_reach_the_clients() -> None:
    topology = parse_topology(
        regions(
            access_key_id="AKSLEXAMPLE000000001",
            secret_access_key="s" * 40,
            signing_region="eu-west-1",
        ),
        Path("."),
    )
    east = topology.primary
    assert east.credentials() == StaticCredentials("AKSLEXAMPLE000000001", "s" * 40)
    kwargs = east.endpoint().client_kwargs()
    assert kwargs["region_name"] == "eu-west-1"
    assert kwargs["aws_access_key_id"] == "AKSLEXAMPLE000000001"
    assert kwargs["aws_secret_access_key"] == "s" * 40
    assert "s" * 40 not in repr(east)
    # a local region without its own keys keeps the placeholders and us-east-1
    assert topology.standby.credentials() is None
    assert topology.standby.endpoint().client_kwargs()["region_name"] == "us-east-1"


def test_a_profile_is_read_from_the_aws_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[standby-admin]\naws_access_key_id = AKSLPROFILE000000001\n"
        "aws_secret_access_key = from-the-profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    east = parse_topology(regions(profile="standby-admin"), Path(".")).primary
    assert east.credentials() == StaticCredentials(
        "AKSLPROFILE000000001", "from-the-profile-secret"
    )
    with pytest.raises(CredentialsNotFound):
        parse_topology(regions(profile="nobody"), Path(".")).primary.credentials()


@pytest.mark.parametrize(
    "east",
    [
        {"access_key_id": "AKSLEXAMPLE000000001"},
        {"access_key_id": "AKSLEXAMPLE000000001", "secret_access_key": "x", "profile": "p"},
    ],
)
def test_half_a_key_pair_or_two_sources_are_refused(east: dict[str, str]) -> None:
    with pytest.raises(TopologyError):
        parse_topology(regions(**east), Path("."))
