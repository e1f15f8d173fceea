"""The object store: one lock, one global resourceVersion, and the event log watches read.

Like etcd behind the apiserver: objects live under a storage key (`group/plural`, shared by
all versions of a resource), every committed change takes the next resourceVersion (a string
of an integer, monotonic across all resources) and appends an event. Reads return deep
copies with `apiVersion` set to the version the client asked for. Write *rules* live in
`writes` and `strategy`; this module only stores, lists and records.
"""

from __future__ import annotations

import base64
import copy
import json
import threading

from . import errors
from .registry import Registry, ResourceType
from .selectors import fields_match, labels_match
from .watch import Event, EventLog

INITIAL_RV = 100


class Record:
    """A stored object (rendered, managedFields included) and its field managers."""

    __slots__ = ("obj", "managers")

    def __init__(self, obj: dict, managers: dict):
        self.obj = obj
        self.managers = managers


class Store:
    def __init__(self, *, history_limit: int = 1000):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.registry = Registry()
        self.rv = INITIAL_RV
        self.log = EventLog(history_limit)
        self.closed = False
        self._data: dict[str, dict[tuple[str, str], Record]] = {}

    # -- reads ----------------------------------------------------------------------------------

    def record(self, rt: ResourceType, namespace: str, name: str) -> Record | None:
        return self._data.get(rt.storage_key, {}).get((namespace if rt.namespaced else "", name))

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        with self.lock:
            record = self.record(rt, namespace, name)
            if record is None:
                raise errors.not_found(rt.plural, rt.group, name)
            return as_version(record.obj, rt)

    def current(self, storage_key: str) -> list[tuple[str, dict]]:
        """(namespace, object) of everything under a storage key, sorted; no copies."""
        bucket = self._data.get(storage_key, {})
        return [(ns, bucket[(ns, name)].obj) for ns, name in sorted(bucket)]

    def list(self, rt: ResourceType, namespace: str, *, labels: list, fields: list, limit: int = 0,
             continue_token: str = "") -> tuple[list[dict], dict]:
        """Matching objects (sorted by namespace/name) and the list metadata."""
        start = _decode_continue(continue_token) if continue_token else None
        with self.lock:
            items = []
            for ns, obj in self.current(rt.storage_key):
                if namespace and ns != namespace:
                    continue
                if start and (ns, obj["metadata"]["name"]) <= start:
                    continue
                if labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj):
                    items.append(as_version(obj, rt))
            meta = {"resourceVersion": str(self.rv)}
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = _encode_continue(last.get("namespace", ""), last["name"], meta["resourceVersion"])
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return items, meta

    def namespace_objects(self, namespace: str) -> list[tuple[ResourceType, dict]]:
        out = []
        for key, bucket in self._data.items():
            rt = self._any_type(key)
            if rt is None or not rt.namespaced:
                continue
            out += [(rt, r.obj) for (ns, _), r in sorted(bucket.items()) if ns == namespace]
        return out

    def _any_type(self, storage_key: str) -> ResourceType | None:
        versions = self.registry.versions_of(storage_key)
        return versions[0] if versions else None

    def all_objects(self) -> list[tuple[str, dict]]:
        return [(key, r.obj) for key, bucket in self._data.items() for r in bucket.values()]

    # -- commits (callers hold the lock) --------------------------------------------------------

    def put(self, rt: ResourceType, record: Record, event_type: str, old: dict | None) -> dict:
        self.rv += 1
        meta = record.obj["metadata"]
        meta["resourceVersion"] = str(self.rv)
        namespace = meta.get("namespace", "") if rt.namespaced else ""
        self._data.setdefault(rt.storage_key, {})[(namespace, meta["name"])] = record
        self._emit(Event(self.rv, event_type, rt.storage_key, namespace, record.obj, old))
        return as_version(record.obj, rt)

    def remove(self, rt: ResourceType, obj: dict) -> dict:
        self.rv += 1
        namespace = obj["metadata"].get("namespace", "") if rt.namespaced else ""
        self._data.get(rt.storage_key, {}).pop((namespace, obj["metadata"]["name"]), None)
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._emit(Event(self.rv, "DELETED", rt.storage_key, namespace, gone, None))
        return as_version(gone, rt)

    def drop_storage(self, storage_key: str) -> list[dict]:
        return [r.obj for r in self._data.pop(storage_key, {}).values()]

    def _emit(self, event: Event) -> None:
        self.log.append(event)
        self.changed.notify_all()

    def compact(self) -> None:
        with self.lock:
            self.log.compact(self.rv)

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()


def as_version(obj: dict, rt: ResourceType) -> dict:
    out = copy.deepcopy(obj)
    out["apiVersion"] = rt.api_version
    return out


def _encode_continue(namespace: str, name: str, rv: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(rv), "start": f"{namespace}/{name}"})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, _, name = data["start"].partition("/")
        return namespace, name
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("continue key is not valid: illegal base64 data") from None
