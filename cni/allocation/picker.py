"""WHERE AN IP IS PICKED: the free addresses of a pool and which one goes next.

free = pool ips - excludeIPs - SpiderReservedIPs (same family) - allocated records,
computed on RangeSet spans, so a /8 with a few records costs the same as a /24.

Spread reuse. Upstream hands out the lowest free address (§13.1), so an IP freed
by one pod goes straight to the next one, while peers still hold it in ARP and
connection caches (peers §6 #7). We keep a per-pool CURSOR, the position of the
last address handed out, and pick the lowest free address above it, wrapping at
the top (host-local's round robin, but shared through the pool object). When a
release would make the freed address the very next pick (nothing free lies
between the cursor and it), the cursor moves onto it; that skips no free address.
Hence:
- the most recently freed address is never the next one handed out, unless it is
  the only free address (then reuse is unavoidable);
- in steady churn freed addresses wait for the cursor to sweep the pool;
- the choice depends only on the pool object (records + cursor), so it is
  deterministic, and a 409 re-run on a fresh pool decides consistently.
The cursor is stored with the records (see `records`); an empty pool restarts at
its first address.

At most MAX_RECORDS records per pool, as upstream (`SPIDERPOOL_IPPOOL_MAX_ALLOCATED_IPS`):
the records are one JSON string in the pool's status, and etcd refuses an object
past 1.5 MiB; a pool that holds that many is treated as full (the next candidate
is tried) with a reason that says so.
"""

from __future__ import annotations

import bisect
from typing import Callable, Iterable

from cni.ipranges import RangeSet, address_key, format_ip

from .model import Pool
from .records import PoolChange, Record


def free(pool: Pool, reserved: RangeSet, taken: Iterable[int] = ()) -> RangeSet:
    return pool.usable - reserved - pool.allocated - RangeSet((v, v) for v in taken)


def next_after(free_set: RangeSet, cursor: int | None) -> int | None:
    """The lowest address of `free_set` above `cursor`, wrapping to the lowest; None if empty."""
    spans = free_set.spans
    if not spans:
        return None
    if cursor is None:
        return spans[0][0]
    index = bisect.bisect_right(spans, (cursor, float("inf")))
    if index > 0 and spans[index - 1][1] > cursor:
        return cursor + 1
    return spans[index][0] if index < len(spans) else spans[0][0]


def cursor_after_release(free_set: RangeSet, cursor: int | None, released: set[int]) -> int | None:
    """Move the cursor onto freed addresses that would otherwise be the very next picks."""
    for _ in range(len(released)):
        following = next_after(free_set, cursor)
        if following is None or following not in released or following == cursor:
            break
        cursor = following
    return cursor


MAX_RECORDS = 5000  # upstream's SPIDERPOOL_IPPOOL_MAX_ALLOCATED_IPS


def at_record_limit(pool: Pool, taken: int = 0) -> bool:
    return len(pool.records) + taken >= MAX_RECORDS


def exhausted(pool: Pool, reserved: RangeSet, taken: int = 0) -> str:
    if at_record_limit(pool, taken):
        return (f"holds {len(pool.records) + taken} allocation records, the most one pool may hold "
                f"({MAX_RECORDS}: status.allocatedIPs is one JSON string in etcd); add another pool for these pods")
    total = pool.usable.size
    used = total - (pool.usable - pool.allocated).size + taken
    blocked = total - (pool.usable - reserved).size
    return f"exhausted ({used}/{total} used{f', {blocked} reserved' if blocked else ''})"


class Ledger:
    """The records one decision adds and removes, per pool, and where each cursor ends.

    Mutable while one decision is built, then frozen into `PoolChange`s.
    """

    def __init__(self, reserved_of: Callable[[int], RangeSet]):
        """`reserved_of(version)`: the reserved addresses of a family (`ReservedIPs.family`)."""
        self._reserved_of = reserved_of
        self._pools: dict[str, Pool] = {}
        self._add: dict[str, list[Record]] = {}
        self._remove: dict[str, list[Record]] = {}
        self._cursor: dict[str, int | None] = {}

    def _touch(self, pool: Pool) -> None:
        if pool.name not in self._pools:
            self._pools[pool.name] = pool
            self._add[pool.name], self._remove[pool.name] = [], []
            self._cursor[pool.name] = pool.cursor

    def taken(self, pool: Pool) -> list[int]:
        return [address_key(r.ip)[1] for r in self._add.get(pool.name, ())]

    def pick(self, pool: Pool, *, pod: str, uid: str, nic: str) -> Record | None:
        """Take the next free address of `pool` for this pod, or None when it is full."""
        self._touch(pool)
        if at_record_limit(pool, len(self._add[pool.name]) - len(self._remove[pool.name])):
            return None
        value = next_after(free(pool, self._reserved_of(pool.version), self.taken(pool)), self._cursor[pool.name])
        if value is None:
            return None
        self._cursor[pool.name] = value
        record = Record(_text(value, pool.version), pod, uid, nic)
        self._add[pool.name].append(record)
        return record

    def add(self, pool: Pool, record: Record) -> None:
        self._touch(pool)
        self._add[pool.name].append(record)

    def remove(self, pool: Pool, record: Record) -> None:
        self._touch(pool)
        self._remove[pool.name].append(record)

    def changes(self) -> tuple[PoolChange, ...]:
        out = []
        for name in sorted(self._pools):
            pool, add, remove = self._pools[name], self._add[name], self._remove[name]
            if not add and not remove:
                continue
            cursor = self._settle(pool, add, remove)
            out.append(PoolChange(name, pool.resource_version, tuple(sorted(add)), tuple(sorted(remove)),
                                  None if cursor == pool.cursor or cursor is None else _text(cursor, pool.version)))
        return tuple(out)

    def _settle(self, pool: Pool, add: list[Record], remove: list[Record]) -> int | None:
        added = {address_key(r.ip)[1] for r in add}
        freed = {address_key(r.ip)[1] for r in remove} - added
        reserved = self._reserved_of(pool.version)
        returned = RangeSet((v, v) for v in freed)
        returned = returned - (returned - pool.usable) - reserved  # freed addresses that can be handed out again
        return cursor_after_release(free(pool, reserved, added) | returned, self._cursor[pool.name], freed)


_text = format_ip
