"""The allocation records of a pool: `status.allocatedIPs`, read and written.

Upstream keeps a pool's allocations as ONE JSON string in its status,
`{"<ip>": {"pod": "ns/name", "podUid": "<uid>"}}`, written with a
resourceVersion-guarded status update. We add two keys that upstream's decoder
ignores (unknown JSON fields are skipped by Go's encoding/json):

- `"nic"` on each record: the interface the IP was given to, so a multi-NIC pod's
  addresses can be told apart without its SpiderEndpoint;
- `"poolCursor"` on the record of the numerically lowest IP: the position of the
  pool's allocation cursor (see `picker`). The status schema admits no other field
  and a status update cannot touch metadata, so the cursor rides on a record. An
  empty pool has no record to carry it and starts again at its first address.

`encode` writes them in Go's order (map keys sorted as strings, compact
separators); `transition.render_status` turns a `PoolChange` into the new status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from cni.ipranges import address_key

CURSOR_KEY = "poolCursor"


@dataclass(frozen=True, order=True, slots=True)
class Record:
    """One entry of `allocatedIPs`: who holds `ip`."""

    ip: str
    pod: str  # "namespace/name"
    uid: str
    nic: str | None = None

    @property
    def namespace(self) -> str:
        return self.pod.partition("/")[0]

    @property
    def name(self) -> str:
        return self.pod.partition("/")[2]

    def to_json(self) -> dict[str, str]:
        body = {"pod": self.pod, "podUid": self.uid}
        if self.nic:
            body["nic"] = self.nic
        return body


@dataclass(frozen=True)
class Decoded:
    records: dict[int, Record]  # by integer address
    cursor: int | None
    duplicates: tuple[str, ...]  # IPs that appear as a key more than once
    error: str | None  # the string could not be read; the pool must not be used


@dataclass(frozen=True)
class PoolChange:
    """Records to remove then add in one pool, decided on `resource_version` of it."""

    pool: str
    resource_version: str
    add: tuple[Record, ...] = ()
    remove: tuple[Record, ...] = ()
    cursor: str | None = None  # new cursor position; None keeps the current one


def decode(text: Any, version: int) -> Decoded:
    if text in (None, ""):
        return Decoded({}, None, (), None)
    try:
        top = _top_level(text)
    except (TypeError, ValueError) as exc:
        return Decoded({}, None, (), f"status.allocatedIPs is not valid JSON ({exc})")
    if top is None:
        return Decoded({}, None, (), "status.allocatedIPs is not a JSON object")
    records: dict[int, Record] = {}
    duplicates: list[str] = []
    cursor_text: str | None = None
    for key, body in top:
        try:
            key_version, value, ip = address_key(key)
        except ValueError:
            return Decoded({}, None, (), f"status.allocatedIPs has a key {key!r} that is not an IP")
        if key_version != version or not isinstance(body, dict):
            return Decoded({}, None, (), f"status.allocatedIPs[{key}] is not an IPv{version} record")
        if value in records:
            duplicates.append(ip)
        nic = body.get("nic")
        records[value] = Record(ip, str(body.get("pod", "")), str(body.get("podUid", "")),
                                nic if isinstance(nic, str) and nic else None)
        if isinstance(body.get(CURSOR_KEY), str):
            cursor_text = body[CURSOR_KEY]
    return Decoded(records, _cursor(cursor_text, version), tuple(duplicates), None)


def _top_level(text: str) -> list[tuple[str, Any]] | None:
    """The top-level key/value pairs in order, duplicates kept (json.loads would drop them)."""
    last: list[list[tuple[str, Any]]] = [[]]

    def hook(items: list[tuple[str, Any]]) -> dict:
        last[0] = items  # the top-level object is the last one completed
        return dict(items)

    value = json.loads(text, object_pairs_hook=hook)
    return last[0] if isinstance(value, dict) else None


def _cursor(text: str | None, version: int) -> int | None:
    try:
        key_version, value, _ = address_key(text) if text else (0, 0, "")
    except ValueError:
        return None
    return value if key_version == version else None


def encode(records: Iterable[Record], cursor: str | None) -> str:
    ordered = sorted(records, key=lambda r: r.ip)  # Go sorts map keys as strings
    body = {r.ip: r.to_json() for r in ordered}
    if cursor and ordered:
        lowest = min(ordered, key=lambda r: address_key(r.ip)[1])
        body[lowest.ip][CURSOR_KEY] = cursor
    return json.dumps(body, separators=(",", ":"))
