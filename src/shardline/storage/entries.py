"""A put call's records as the record log takes them: parallel lists.

Why parallel lists, not a tuple per record: the per-record loops of the put path are
in C (``server/_recordwire.c``, ``storage/_putroute.c``) and walk lists; a PutRecords
call carries up to 500 records, and packing each into a tuple only for the next
step to take it apart again was part of what those loops replaced.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PutEntries:
    """Record ``i`` is ``datas[i]`` under partition key ``keys[i]``.

    ``explicit_hashes`` is None when no record names an explicit hash key (the common
    case, routed by the MD5 of its partition key in C); otherwise it has one entry
    per record, None where that record names none.
    """

    datas: list[bytes]
    keys: list[str]
    explicit_hashes: list[str | None] | None = None

    def __post_init__(self) -> None:
        count = len(self.datas)
        if len(self.keys) != count or (
            self.explicit_hashes is not None and len(self.explicit_hashes) != count
        ):
            raise ValueError("PutEntries' lists differ in length")

    def __len__(self) -> int:
        return len(self.datas)
