"""The watched cache: what the agent (and the IP GC) decide over, without asking the API.

Why it exists: a CNI ADD must not wait for a round of GETs; upstream reads pools,
pods and namespaces from informers, and so do we. One `Informer` per kind runs
LIST then WATCH (resourceVersion, bookmarks), re-watches from the last version
when a stream ends, relists on 410 Expired, and reconnects with jittered backoff
when the API is away. Objects become typed views (`cni.allocation`) once per
version (pools lazily, when a decision first needs that version), and
`snapshot()` hands the engine a consistent copy.

Versions only move forward: the agent also feeds the cache with the objects its
own writes return (`offer`), and a watch event older than what is held is
ignored, so the agent's next decision already sees its last commit. A restarted
agent rebuilds all of this from the API; nothing is kept on disk.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agent import kube as k8s
from cni.allocation import (Endpoint, NamespaceInfo, NodeInfo, PodInfo, Pool, ReservedIPs, Snapshot,
                            StatefulSetInfo)

from .logs import Log

Key = Any  # name, or (namespace, name)


@dataclass(frozen=True)
class Watched:
    """One kind the cache follows: how to select it and what view to keep of each object."""

    kind: k8s.Kind
    view: Callable[[dict], Any]
    keep_raw: bool = False  # the agent writes these back (pools, endpoints): keep the object too
    field_selector: str | None = None


def agent_kinds(node: str) -> tuple[Watched, ...]:
    """What a node agent watches: its own node's pods and its own Node, everything else whole."""
    return (
        Watched(k8s.POOLS, Pool.from_object, keep_raw=True),
        Watched(k8s.RESERVED_IPS, lambda o: o, keep_raw=True),
        Watched(k8s.PODS, PodInfo.from_object, field_selector=f"spec.nodeName={node}"),
        Watched(k8s.NAMESPACES, NamespaceInfo.from_object),
        Watched(k8s.NODES, NodeInfo.from_object, field_selector=f"metadata.name={node}"),
        Watched(k8s.STATEFULSETS, StatefulSetInfo.from_object),
        Watched(k8s.ENDPOINTS, Endpoint.from_object, keep_raw=True),
    )


def controller_kinds() -> tuple[Watched, ...]:
    """What the IP garbage collector watches: every pod, no nodes or namespaces; subnets for their finalizer."""
    return (
        Watched(k8s.POOLS, Pool.from_object, keep_raw=True),
        Watched(k8s.SUBNETS, lambda o: o, keep_raw=True),
        Watched(k8s.RESERVED_IPS, lambda o: o, keep_raw=True),
        Watched(k8s.PODS, PodInfo.from_object),
        Watched(k8s.STATEFULSETS, StatefulSetInfo.from_object),
        Watched(k8s.ENDPOINTS, Endpoint.from_object, keep_raw=True),
    )


class Entry:
    """One object held: its version, the object itself if kept, and its view, parsed on first use.

    Parsing lazily matters for pools: under contention a pool changes many times between
    two decisions of this agent, and parsing 1,000 records per version would be wasted.
    """

    __slots__ = ("version", "raw", "_parse", "_view")

    def __init__(self, version: int | None, raw: dict | None, parse: Callable[[], Any]):
        self.version, self.raw, self._parse, self._view = version, raw, parse, None

    @property
    def view(self) -> Any:
        if self._parse is not None:
            self._view, self._parse = self._parse(), None
        return self._view


def key_of(kind: k8s.Kind, obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace", ""), meta.get("name", "")) if kind.namespaced else meta.get("name", "")


def version_of(obj: dict) -> int | None:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return None  # opaque: accept whatever comes


def _newer(incoming: int | None, held: int | None) -> bool:
    return incoming is None or held is None or incoming >= held


class Cache:
    def __init__(self, kube: k8s.Kube, kinds: Iterable[Watched], *, log: Log | None = None,
                 on_event: Callable[[str, str, Any], None] | None = None,
                 on_restart: Callable[[str, str], None] | None = None, watch_seconds: int = 45):
        self.kube = kube
        self.kinds = {w.kind.plural: w for w in kinds}
        self.log = log or Log("cache")
        self.on_event = on_event  # (plural, event type, object) after the cache took it in
        self.on_restart = on_restart  # (plural, why) when a watch is re-opened after a failure
        self.watch_seconds = watch_seconds
        self._entries: dict[str, dict[Key, Entry]] = {plural: {} for plural in self.kinds}
        self._reserved = ReservedIPs()
        self._changed = threading.Condition()
        self._synced: set[str] = set()
        self._down: dict[str, str] = {}  # plural -> why its watch is not running
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "Cache":
        for plural, watched in self.kinds.items():
            thread = threading.Thread(target=self._run, args=(watched,), name=f"watch-{plural}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 0.0) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def synced(self) -> bool:
        with self._changed:
            return len(self._synced) == len(self.kinds)

    def wait_synced(self, timeout: float) -> bool:
        return self.wait_for(lambda: len(self._synced) == len(self.kinds), timeout)

    def problems(self) -> list[str]:
        """Why the cache cannot be trusted right now (kinds never listed, watches down); [] when fine."""
        with self._changed:
            missing = [f"{p} not listed yet" for p in self.kinds if p not in self._synced]
            return missing + [f"{p}: {why}" for p, why in sorted(self._down.items())]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` (called with the cache lock held) is true, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return False
                self._changed.wait(remaining)
            return True

    def wait_view(self, kind: k8s.Kind, key: Key, accept: Callable[[Any], bool], timeout: float) -> Any:
        """The view of `key` once one is held that `accept`s, or None after `timeout`."""
        found: list[Any] = []

        def ready() -> bool:
            entry = self._entries[kind.plural].get(key)
            if entry is not None and accept(entry.view):
                found.append(entry.view)
                return True
            return False

        return found[0] if self.wait_for(ready, timeout) else None

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._changed:
            views = {plural: {k: e.view for k, e in entries.items()} for plural, entries in self._entries.items()}
            reserved = self._reserved
        return Snapshot(pools=views.get("spiderippools", {}), reserved=reserved,
                        namespaces=views.get("namespaces", {}), nodes=views.get("nodes", {}),
                        pods=views.get("pods", {}), endpoints=views.get("spiderendpoints", {}),
                        statefulsets=views.get("statefulsets", {}))

    def view(self, kind: k8s.Kind, key: Key) -> Any:
        with self._changed:
            entry = self._entries[kind.plural].get(key)
            return entry.view if entry else None

    def raw(self, kind: k8s.Kind, key: Key) -> dict | None:
        with self._changed:
            entry = self._entries[kind.plural].get(key)
            return entry.raw if entry else None

    def raws(self, kind: k8s.Kind) -> list[dict]:
        """Every kept object of `kind`, read under one lock."""
        with self._changed:
            return [entry.raw for entry in self._entries[kind.plural].values() if entry.raw is not None]

    def keys(self, kind: k8s.Kind) -> list[Key]:
        with self._changed:
            return list(self._entries[kind.plural])

    def pool(self, name: str) -> Pool | None:
        return self.view(k8s.POOLS, name)

    # -- writing ---------------------------------------------------------------------------------

    def offer(self, kind: k8s.Kind, obj: dict) -> Any:
        """Take in an object the agent read or wrote, unless a newer version is held; -> the held view."""
        watched = self.kinds[kind.plural]
        with self._changed:
            self._put(watched, obj)
            entry = self._entries[kind.plural].get(key_of(kind, obj))
            self._changed.notify_all()
            return entry.view if entry else None

    def forget(self, kind: k8s.Kind, key: Key, version: int | None = None) -> None:
        """The object is gone (deleted by the agent, or a DELETED event at `version`)."""
        with self._changed:
            entries = self._entries[kind.plural]
            entry = entries.get(key)
            if entry is not None and _newer(version, entry.version):
                del entries[key]
                if kind.plural == "spiderreservedips":
                    self._reserved = ReservedIPs.from_objects(e.raw for e in entries.values())
            self._changed.notify_all()

    def _put(self, watched: Watched, obj: dict) -> bool:
        entries = self._entries[watched.kind.plural]
        key, version = key_of(watched.kind, obj), version_of(obj)
        held = entries.get(key)
        if held is not None and not _newer(version, held.version):
            return False
        if held is not None and version is not None and version == held.version:
            return False  # the same version again (our write's answer, then its event)
        if watched.keep_raw:
            entries[key] = Entry(version, obj, lambda: watched.view(obj))
        else:
            entries[key] = Entry(version, None, None)
            entries[key]._view = watched.view(obj)  # small views: parse now, keep no object
        if watched.kind.plural == "spiderreservedips":
            self._reserved = ReservedIPs.from_objects(e.raw for e in entries.values())
        return True

    def _replace(self, watched: Watched, items: list[dict], list_version: int | None) -> None:
        """A fresh LIST: keep what it says, drop what it lacks unless that is newer than the list."""
        plural = watched.kind.plural
        with self._changed:
            listed = {key_of(watched.kind, o) for o in items}
            for obj in items:
                self._put(watched, obj)
            entries = self._entries[plural]
            for key in [k for k in entries if k not in listed]:
                if list_version is None or entries[key].version is None or entries[key].version <= list_version:
                    del entries[key]
            if plural == "spiderreservedips":
                self._reserved = ReservedIPs.from_objects(e.raw for e in entries.values())
            self._synced.add(plural)
            self._down.pop(plural, None)
            self._changed.notify_all()

    # -- the informer loop -----------------------------------------------------------------------

    def _run(self, watched: Watched) -> None:
        plural = watched.kind.plural
        version: str | None = None
        backoff = 0.1
        while not self._stop.is_set():
            try:
                if version is None:
                    items, version = self.kube.list(watched.kind, field_selector=watched.field_selector)
                    self._replace(watched, items, _int(version))
                    self.log.debug("listed", kind=plural, objects=len(items), resourceVersion=version)
                version = self._watch(watched, version)
                backoff = 0.1
            except k8s.Expired:
                self._restarted(plural, "expired")
                self.log.info("watch expired; relisting", kind=plural)
                version = None
            except k8s.ApiError as error:
                self._restarted(plural, "error")
                with self._changed:
                    self._down[plural] = str(error)
                self.log.warning("watch failed; reconnecting", kind=plural, error=str(error),
                                 backoff_s=round(backoff, 2))
                self._stop.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 5.0)
            except Exception as error:  # noqa: BLE001 - a bug must not end the informer silently
                self._restarted(plural, "bug")
                self.log.error("watch loop crashed; relisting", kind=plural, error=repr(error), exc_info=True)
                version = None
                self._stop.wait(1.0)

    def _watch(self, watched: Watched, version: str) -> str:
        plural = watched.kind.plural
        timeout = int(self.watch_seconds * (0.75 + random.random() / 2))
        for event, obj in self.kube.watch(watched.kind, resource_version=version,
                                          field_selector=watched.field_selector, timeout_seconds=timeout,
                                          stopped=self._stop.is_set):
            with self._changed:
                self._down.pop(plural, None)
            seen = (obj.get("metadata") or {}).get("resourceVersion")
            if event == "BOOKMARK":
                version = seen or version
                continue
            if event == "DELETED":
                self.forget(watched.kind, key_of(watched.kind, obj), version_of(obj))
            elif event in ("ADDED", "MODIFIED"):
                self.offer(watched.kind, obj)
            version = seen or version
            if self.on_event is not None:
                self.on_event(plural, event, obj)
        return version

    def _restarted(self, plural: str, why: str) -> None:
        if self.on_restart is not None:
            self.on_restart(plural, why)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
