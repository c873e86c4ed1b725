"""The accounts a region server keeps apart: one catalog and database per account.

Why one ``Region`` per account: streams, consumers, shard limits, pagination tokens
and iterators all belong to an account on AWS. Keeping each account in its own
``Region`` (its own SQLite database) keeps them apart by construction: no handler
can reach another account's stream by name, and an iterator minted for one account
does not open in another. The account named by ``--account-id`` keeps the data
directory's top level, as before accounts existed; every other account lives in
``DATA_DIR/accounts/<ACCOUNT_ID>/``. All share the master key.

Resource handling: ``close`` closes every account's database, also when another's
close fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from shardline.storage.config import RegionConfig
from shardline.storage.region import Region

log = logging.getLogger(__name__)


def account_config(base: RegionConfig, account: str) -> RegionConfig:
    """The configuration of ``account``'s catalog, derived from the server's."""
    if account == base.account_id:
        return base
    return replace(
        base,
        account_id=account,
        data_dir=base.data_dir / "accounts" / account,
        master_key_path=base.key_path,
    )


class Accounts:
    """The per-account regions of one server, by account id."""

    def __init__(self, base: RegionConfig, account_ids: Iterable[str]) -> None:
        self.base = base
        self.regions = {a: Region(account_config(base, a)) for a in sorted(set(account_ids))}

    def get(self, account: str) -> Region | None:
        return self.regions.get(account)

    @property
    def home(self) -> Region:
        """The ``--account-id`` account's region when kept, else the first account's."""
        return self.regions.get(self.base.account_id) or next(iter(self.regions.values()))

    async def start(self) -> None:
        for region in self.regions.values():
            await region.start()

    async def close(self) -> None:
        for account, region in self.regions.items():
            try:
                await region.close()
            except Exception:
                log.exception("closing account %s's database failed", account)
