"""The server's collector settings (``server.runner.tune_collector``)."""

from __future__ import annotations

import gc

from shardline.server.runner import GC_YOUNG_THRESHOLD, tune_collector


def test_tuning_freezes_the_start_up_heap_and_collects_the_young_generation_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
