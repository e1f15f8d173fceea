"""Watch: a bounded history of changes and the event streams clients read from it.

Every committed change gets the next global resourceVersion and an `Event` in the `EventLog`.
The log keeps the last `limit` events (an etcd compaction window); a watch from a
resourceVersion older than the window gets an ERROR event carrying a 410 `Expired` Status,
exactly what client-go and the python client expect before relisting. `WatchStream` turns the
log into one request's events: ADDED for existing objects when no resourceVersion (or "0") is
given, then changes filtered by namespace and selectors -- an object moving into a label
selector is ADDED, moving out is DELETED, as from the real watch cache -- plus periodic
BOOKMARKs when asked. Streams end at `timeoutSeconds`, on server stop, or when the client
goes away; nothing here waits unboundedly.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

from . import errors
from .selectors import fields_match, labels_match


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    storage_key: str
    namespace: str
    obj: dict
    old: dict | None


class EventLog:
    """The retained window of events; callers hold the store lock."""

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self.events: deque[Event] = deque()
        self.compacted = 0  # newest resourceVersion no longer retained

    def append(self, event: Event) -> None:
        self.events.append(event)
        while len(self.events) > self.limit:
            self.compacted = self.events.popleft().rv

    def since(self, rv: int) -> list[Event]:
        if rv < self.compacted:
            raise errors.expired(f"too old resource version: {rv} ({self.compacted + 1})")
        return [e for e in self.events if e.rv > rv]

    def compact(self, current_rv: int) -> None:
        self.events.clear()
        self.compacted = current_rv


@dataclass
class WatchRequest:
    storage_key: str
    namespace: str  # "" = all namespaces
    labels: list
    fields: list
    resource_version: str
    send_initial_events: bool
    allow_bookmarks: bool
    timeout: float
    bookmark_interval: float
    bookmark_object: Callable[[int, dict | None], dict]  # (rv, annotations) -> object

    def matches(self, obj: dict | None, namespace: str) -> bool:
        if obj is None or (self.namespace and namespace != self.namespace):
            return False
        return labels_match(self.labels, obj["metadata"].get("labels")) and fields_match(self.fields, obj)

    def translate(self, event: Event) -> tuple[str, dict] | None:
        if event.storage_key != self.storage_key:
            return None
        now_in = self.matches(event.obj, event.namespace)
        was_in = event.type == "MODIFIED" and self.matches(event.old, event.namespace)
        if event.type == "MODIFIED":
            if now_in:
                return ("MODIFIED" if was_in else "ADDED", event.obj)
            return ("DELETED", event.obj) if was_in else None
        return (event.type, event.obj) if now_in else None


def stream(store, request: WatchRequest, *, stopped: Callable[[], bool]) -> Iterator[tuple[str, dict]]:
    """Yield (type, object) pairs for one watch; the store lock is never held across a yield."""
    deadline = time.monotonic() + request.timeout
    start = request.resource_version
    initial: list[dict] = []
    with store.changed:
        if start in ("", "0") or request.send_initial_events:
            initial = [o for ns, o in store.current(request.storage_key) if request.matches(o, ns)]
            cursor = store.rv
        else:
            cursor = _parse_rv(start)
            try:
                store.log.since(cursor)
            except errors.ApiError as err:
                yield ("ERROR", err.status())
                return
    for obj in initial:
        yield ("ADDED", obj)
    if request.send_initial_events and request.allow_bookmarks:
        yield ("BOOKMARK", request.bookmark_object(cursor, {"k8s.io/initial-events-end": "true"}))
    next_bookmark = time.monotonic() + request.bookmark_interval
    while not stopped():
        pending, expired = _wait_for_events(store, cursor, min(deadline, next_bookmark if request.allow_bookmarks else deadline))
        if expired is not None:
            yield ("ERROR", expired.status())
            return
        for event in pending:
            cursor = event.rv
            out = request.translate(event)
            if out:
                yield out
        now = time.monotonic()
        if request.allow_bookmarks and now >= next_bookmark:
            yield ("BOOKMARK", request.bookmark_object(cursor, None))
            next_bookmark = now + request.bookmark_interval
        if now >= deadline:
            return


def _wait_for_events(store, cursor: int, until: float) -> tuple[list[Event], errors.ApiError | None]:
    with store.changed:
        for _ in range(2):
            if store.closed:
                return [], None
            try:
                pending = store.log.since(cursor)
            except errors.ApiError as err:
                return [], err
            remaining = until - time.monotonic()
            if pending or remaining <= 0:
                return pending, None
            store.changed.wait(timeout=min(remaining, 0.5))
    return [], None


def _parse_rv(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'resourceVersion: Invalid value: "{value}": strconv.ParseUint: parsing '
                                 f'"{value}": invalid syntax') from None
