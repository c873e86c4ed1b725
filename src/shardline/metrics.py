"""What every component's Prometheus metrics share: families made once per registry.

prometheus-client refuses to register a metric name twice in one registry, while a
process may create many producers, workers or state jobs. Each component therefore
keeps its families in a :class:`FamilyCache`: made on first use for a registry and
shared by every later instance (which tell themselves apart by labels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

F = TypeVar("F")


class FamilyCache(Generic[F]):
    """``make(registry)`` called at most once per registry."""

    def __init__(self, make: Callable[[CollectorRegistry], F]) -> None:
        self._make = make
        self._families: dict[int, F] = {}

    def get(self, registry: CollectorRegistry) -> F:
        family = self._families.get(id(registry))
        if family is None:
            family = self._families[id(registry)] = self._make(registry)
        return family
