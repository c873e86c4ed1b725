"""Types of the C extension ``_putroute.c`` (see its header)."""

def hash_route(
    keys: list[str], datas: list[bytes], starts: list[bytes], /
) -> tuple[list[bytes], list[int], list[int]]: ...
def assign(
    routes: list[int],
    route_count: int,
    first_key: int,
    encoded: list[bytes],
    datas: list[bytes],
    admitted: list[bool] | None,
    /,
) -> list[tuple[int, list[int], list[bytes], list[bytes]]]: ...
