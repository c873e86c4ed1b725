"""Types of the C extension ``_putwire.c`` (see its header)."""

def decode_entries(
    records: object, key_min: int, key_max: int, data_max: int, /
) -> tuple[list[bytes], list[str]] | None: ...
def render_put_results(
    routes: list[int], first_key: int, suffixes: list[str], shard_ids: list[str], /
) -> bytes: ...
