"""A pool after a change: the records it leaves, the status to write, and the change between two versions.

Why it exists: the engine decides `PoolChange`s on a snapshot; committing one is a
guarded write of the pool's whole status (`render_status`). The node agent's group
leader decides many requests on one pool version in a row, so it also needs the
pool *after* each change without encoding and re-reading 5,000 records
(`apply_change`, indexes carried along), and the one change that turns the first
version into the last (`diff`). Pure, like the rest of the engine.
"""

from __future__ import annotations

from typing import Any, Mapping

from cni.ipranges import RangeSet, address_key

from .errors import StaleSnapshotError
from .model import Pool, PoolIndexes
from .counts import pool_status
from .records import PoolChange, Record


def changed_records(pool: Pool, change: PoolChange) -> dict[int, Any]:
    """The pool's records (address -> Record) after `change`.

    Removing a record that is already gone is a no-op (DEL is idempotent); adding an
    IP held by someone else, or a change decided on another version of the pool,
    raises StaleSnapshotError.
    """
    if change.pool != pool.name or change.resource_version != pool.resource_version:
        raise StaleSnapshotError(
            f"change for {change.pool}@{change.resource_version} applied to {pool.name}@{pool.resource_version}")
    records = dict(pool.records)
    for record in change.remove:
        value = address_key(record.ip)[1]
        if value in records and records[value].uid == record.uid:
            del records[value]
    for record in change.add:
        value = address_key(record.ip)[1]
        if value in records and records[value].uid != record.uid:
            raise StaleSnapshotError(f"{record.ip} in pool {pool.name} is already held by {records[value].pod}")
        records[value] = record
    return records


def render_status(pool: Pool, change: PoolChange) -> dict[str, Any]:
    """The pool's new `status` after `change`, for a PUT guarded by `change.resource_version`.

    Removing a record that is already gone is a no-op (DEL is idempotent); adding an
    IP held by someone else means the change was decided on another snapshot. An
    emptied pool's `allocatedIPs` is absent, never "{}" (see `counts.pool_status`).
    """
    records = changed_records(pool, change)
    cursor = change.cursor if change.cursor is not None else pool.cursor_ip
    return pool_status(records.values(), cursor=cursor, total=pool.total_ip_count)


def apply_change(pool: Pool, change: PoolChange) -> Pool:
    """`pool` after `change`, as `render_status` would leave it, without encoding the records.

    The group leader decides many requests on one pool version; re-encoding and
    re-parsing 5,000 records between them would cost more than the decisions.
    """
    records = changed_records(pool, change)
    cursor = address_key(change.cursor)[1] if change.cursor is not None else pool.cursor
    return pool.with_records(records, cursor=cursor, indexes=_carried_indexes(pool, records, change))


def _carried_indexes(before: Pool, records: Mapping[int, Record], change: PoolChange) -> PoolIndexes:
    """`before`'s indexes (`allocated`, `by_uid`, `by_pod`), updated for `change` whose result is `records`.

    Rebuilding them costs O(records) per decision, most of the leader's time on a
    big pool; updating them costs O(change). The values equal what the pool would
    compute (a test compares them).
    """
    changed = {address_key(r.ip)[1] for r in (*change.remove, *change.add)}
    gone = [before.records[v] for v in changed if v in before.records]
    came = [records[v] for v in changed if v in records]
    allocated = (before.allocated - RangeSet((v, v) for v in changed)) | RangeSet(
        (v, v) for v in changed if v in records)
    indexes = []
    for index, key in ((before.by_uid, _uid), (before.by_pod, _pod)):
        index = dict(index)
        for k in {key(r) for r in gone} | {key(r) for r in came}:
            kept = [r for r in index.get(k, ()) if address_key(r.ip)[1] not in changed]
            kept += [r for r in came if key(r) == k]
            if kept:
                index[k] = tuple(sorted(kept))
            else:
                index.pop(k, None)
        indexes.append(index)
    return PoolIndexes(allocated, *indexes)


def _uid(record: Record) -> str:
    return record.uid


def _pod(record: Record) -> str:
    return record.pod


def diff(before: Pool, after: Pool) -> PoolChange:
    """The one change that turns `before` into `after` (for a single guarded status update)."""
    add = tuple(sorted(r for v, r in after.records.items() if before.records.get(v) != r))
    remove = tuple(sorted(r for v, r in before.records.items() if after.records.get(v) != r))
    cursor = after.cursor_ip if after.cursor != before.cursor else None
    return PoolChange(before.name, before.resource_version, add, remove, cursor)
