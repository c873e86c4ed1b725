"""What every component's Prometheus metrics share: families made once per registry.

prometheus-client refuses to register a metric name twice in one registry, while a
process may create many producers, workers or state jobs. Each component therefore
keeps its families in a :class:`FamilyCache`: made on first use for a registry and
shared by every later instance (which tell themselves apart by labels).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

F = TypeVar("F")


class FamilyCache(Generic[F]):
    """``make(registry)`` called at most once per registry."""

    def __init__(self, make: Callable[[CollectorRegistry], F]) -> None:
        self._make = make
        # Keyed by the registry itself, weakly: an id() key would hand a new registry
        # the families of a dead one that happened to have the same address.
        self._families: weakref.WeakKeyDictionary[CollectorRegistry, F] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, registry: CollectorRegistry) -> F:
        family = self._families.get(registry)
        if family is None:
            family = self._families[registry] = self._make(registry)
        return family
