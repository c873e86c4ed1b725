"""The server's limits: settings it refuses, the body budget, the connection cap."""

from __future__ import annotations

import pytest

from shardline.errors import ServiceUnavailable
from shardline.server import model
from shardline.server.limits import (
    MIB,
    RESERVED_FDS,
    BodyBudget,
    ServerLimits,
    connection_cap,
)


def test_the_budget_refuses_what_does_not_fit_and_takes_nothing_then() -> None:
    budget = BodyBudget(10)
    assert budget.reserve(6)
    assert not budget.reserve(5)
    assert budget.held == 6
    budget.release(6)
    assert budget.reserve(10)
    refusal = budget.refusal()
    assert isinstance(refusal, ServiceUnavailable)
    assert refusal.http_status == 503 and refusal.retriable


@pytest.mark.parametrize(
    "settings",
    [
        {"body_budget_bytes": 8 * MIB},  # below one largest body
        {"header_timeout_s": 0},
        {"idle_timeout_s": -1},
        {"max_connections": 0},
    ],
    ids=str,
)
def test_limits_that_would_refuse_every_request_are_refused(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ServerLimits(**settings)


def test_the_connection_cap_stays_within_the_open_file_limit() -> None:
    assert connection_cap(ServerLimits(), 1024) == 1024 - RESERVED_FDS
    assert connection_cap(ServerLimits(max_connections=100), 1024) == 100
    assert connection_cap(ServerLimits(max_connections=5000), 1024) == 1024 - RESERVED_FDS


def test_every_pattern_of_the_service_model_compiles_for_the_linear_engine() -> None:
    patterns = set()
    for name in model.operation_names():
        shape = model.operation(name).input_shape
        stack = [shape] if shape is not None else []
        while stack:
            current = stack.pop()
            if current.type_name == "string" and current.metadata.get("pattern"):
                patterns.add(current.metadata["pattern"])
            elif current.type_name == "structure":
                stack.extend(current.members.values())
            elif current.type_name == "list":
                stack.append(current.member)
            elif current.type_name == "map":
                stack.extend([current.key, current.value])
    assert len(patterns) > 5
    for pattern in patterns:
        assert model.linear_pattern(pattern) is not None
