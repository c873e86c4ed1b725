"""The package's public surface is exactly what ``__all__`` says."""

import shardline


def test_all_is_the_public_surface():
    public = {n for n in vars(shardline) if not n.startswith("_")} - {"annotations"}
    modules = {name for name in public if type(getattr(shardline, name)).__name__ == "module"}
    assert sorted(shardline.__all__) == sorted((public - modules) | {"__version__"})
    assert shardline.__all__ == sorted(shardline.__all__, key=lambda n: (n.startswith("_"), n))
