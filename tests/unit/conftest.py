"""Fixtures of the unit tests."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

#: How much traced memory a leak check tolerates after ``LEAK_CALLS`` calls: a leak of
#: one small object per call (a 28-byte int, an empty list) grows it by half a MiB.
LEAK_BOUND = 64 * 1024
LEAK_CALLS = 20_000
WARM_UP_CALLS = 200


@pytest.fixture()
def assert_no_leak() -> Iterator[Callable[..., None]]:
    """``assert_no_leak(call, *watched, raises=None)``: fail if ``call`` leaks.

    Why both measures: ``tracemalloc`` sees every object a C extension allocates and
    never frees (a missing ``Py_DECREF`` of something it made), but not a surplus
    reference to an object that was already there (a missing ``Py_DECREF`` of an
    argument); the ``watched`` objects' reference counts catch those. ``call`` is run
    ``LEAK_CALLS`` times after a warm-up that fills the interpreter's free lists, and
    must raise ``raises`` every time when it is given (the error path).
    """

    def run(call: Callable[[], object], raises: type[BaseException] | None) -> None:
        if raises is None:
            call()
            return
        try:
            call()
        except raises:
            return
        raise AssertionError(f"{call} did not raise {raises.__name__}")

    def check(
        call: Callable[[], object],
        *watched: object,
        raises: type[BaseException] | None = None,
    ) -> None:
        for _ in range(WARM_UP_CALLS):
            run(call, raises)
        gc.collect()
        counts = [sys.getrefcount(item) for item in watched]
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(LEAK_CALLS):
            run(call, raises)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        assert grown <= LEAK_BOUND, f"{grown} bytes more traced after {LEAK_CALLS} calls"
        assert [sys.getrefcount(item) for item in watched] == counts

    tracemalloc.start()
    try:
        yield check
    finally:
        tracemalloc.stop()
