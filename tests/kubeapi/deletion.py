"""Deletion: finalizers, namespaces, owner references and CRD clean-up.

An object with finalizers is not removed by DELETE: it gets `deletionTimestamp` (and a
generation bump) and stays until a write clears its last finalizer. Otherwise it is removed
at once, and what depended on it follows, standing in for the controllers a real cluster runs:

  * namespaces go `Terminating`, their objects are deleted, and the namespace disappears when
    the last one (finalizers included) is gone;
  * the garbage collector: objects whose every ownerReference points at a removed uid are
    deleted (`propagationPolicy: Orphan` strips the references instead); Foreground is
    treated as Background;
  * a removed CRD takes its custom objects and its served resources with it.

Simplification: pods have no graceful termination (there is no kubelet); they go at once.
"""

from __future__ import annotations

import copy

from . import errors, strategy
from .registry import CRD_TYPE, NAMESPACE_TYPE, ResourceType
from .store import Record, Store, as_version

RETURNS_OBJECT = {"pods", "namespaces"}  # built-ins whose DELETE answers with the object


class Deleter:
    def __init__(self, store: Store):
        self.store = store

    def delete(self, rt: ResourceType, namespace: str, name: str, options: dict, *, dry_run: bool) -> dict:
        """DELETE one object (caller holds no lock); returns the response body."""
        with self.store.lock:
            record = self.store.record(rt, namespace, name)
            if record is None:
                raise errors.not_found(rt.plural, rt.group, name)
            _check_preconditions(rt, record.obj, options.get("preconditions") or {})
            return self._delete_locked(rt, record, options, dry_run=dry_run)

    def delete_collection(self, rt: ResourceType, namespace: str, objects: list[dict], options: dict, *,
                          dry_run: bool) -> dict:
        with self.store.lock:
            for obj in objects:
                record = self.store.record(rt, namespace or obj["metadata"].get("namespace", ""),
                                           obj["metadata"]["name"])
                if record is not None:
                    self._delete_locked(rt, record, options, dry_run=dry_run)
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": {}, "items": objects}

    def _delete_locked(self, rt: ResourceType, record: Record, options: dict, *, dry_run: bool) -> dict:
        obj = record.obj
        if rt.plural == "namespaces":
            return self._delete_namespace(record, dry_run=dry_run)
        if obj["metadata"].get("finalizers"):
            return self._mark_terminating(rt, record, dry_run=dry_run)
        if dry_run:
            return self._response(rt, as_version(obj, rt))
        return self._response(rt, self.remove(rt, obj, orphan=options.get("propagationPolicy") == "Orphan"
                                              or options.get("orphanDependents") is True))

    def _mark_terminating(self, rt: ResourceType, record: Record, *, dry_run: bool) -> dict:
        if record.obj["metadata"].get("deletionTimestamp"):
            return as_version(record.obj, rt)
        obj = copy.deepcopy(record.obj)
        meta = obj["metadata"]
        meta["deletionTimestamp"] = strategy.now()
        meta["deletionGracePeriodSeconds"] = 0
        if meta.get("generation"):
            meta["generation"] = int(meta["generation"]) + 1
        if rt.plural == "namespaces":
            obj.setdefault("status", {})["phase"] = "Terminating"
        if dry_run:
            return as_version(obj, rt)
        return self.store.put(rt, Record(obj, record.managers), "MODIFIED", record.obj)

    def _response(self, rt: ResourceType, obj: dict) -> dict:
        if not rt.builtin or rt.plural in RETURNS_OBJECT:
            return obj
        details = {"name": obj["metadata"]["name"], "kind": rt.plural, "uid": obj["metadata"].get("uid")}
        if rt.group:
            details["group"] = rt.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    # -- cascades -------------------------------------------------------------------------------

    def remove(self, rt: ResourceType, obj: dict, *, orphan: bool = False) -> dict:
        """Remove an object now and let its dependents follow; returns the removed object."""
        gone = self.store.remove(rt, obj)
        if rt == CRD_TYPE:
            self._remove_custom_resources(obj)
        namespace = obj["metadata"].get("namespace")
        if rt.namespaced and namespace:
            self._finish_namespace_if_empty(namespace)
        if rt.plural == "namespaces":
            return gone
        self._collect_garbage(obj["metadata"].get("uid"), orphan=orphan)
        return gone

    def _delete_namespace(self, record: Record, *, dry_run: bool) -> dict:
        rt = NAMESPACE_TYPE
        if dry_run:
            return self._mark_terminating(rt, record, dry_run=True)
        name = record.obj["metadata"]["name"]
        terminating = self._mark_terminating(rt, record, dry_run=False)
        for child_rt, child in self.store.namespace_objects(name):
            current = self.store.record(child_rt, name, child["metadata"]["name"])
            if current is not None:
                self._delete_locked(child_rt, current, {}, dry_run=False)
        final = self._finish_namespace_if_empty(name)
        return final if final is not None else terminating

    def _finish_namespace_if_empty(self, namespace: str) -> dict | None:
        record = self.store.record(NAMESPACE_TYPE, "", namespace)
        if record is None or not record.obj["metadata"].get("deletionTimestamp"):
            return None
        if record.obj["metadata"].get("finalizers") or self.store.namespace_objects(namespace):
            return None
        return self.store.remove(NAMESPACE_TYPE, record.obj)

    def _remove_custom_resources(self, crd: dict) -> None:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        key = f"{group}/{plural}"
        versions = self.store.registry.versions_of(key)
        for namespace, obj in list(self.store.current(key)):
            if versions:
                self.store.remove(versions[0], obj)
        self.store.drop_storage(key)
        self.store.registry.unregister_crd(crd["metadata"]["name"])

    def _collect_garbage(self, uid: str | None, *, orphan: bool) -> None:
        """Delete (or orphan) the dependents of a removed uid; recursion follows owner chains."""
        if not uid:
            return
        live_uids = {o["metadata"].get("uid") for _, o in self.store.all_objects()}
        for key, obj in self.store.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            versions = self.store.registry.versions_of(key)
            if not versions or not any(r.get("uid") == uid for r in refs):
                continue
            record = self.store.record(versions[0], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if record is None:
                continue
            if orphan:
                self._drop_owner(versions[0], record, uid)
            elif not any(r.get("uid") in live_uids for r in refs):
                self._delete_locked(versions[0], record, {}, dry_run=False)

    def _drop_owner(self, rt: ResourceType, record: Record, uid: str) -> None:
        obj = copy.deepcopy(record.obj)
        refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
        if refs:
            obj["metadata"]["ownerReferences"] = refs
        else:
            obj["metadata"].pop("ownerReferences", None)
        self.store.put(rt, Record(obj, record.managers), "MODIFIED", record.obj)


def _check_preconditions(rt: ResourceType, obj: dict, preconditions: dict) -> None:
    meta = obj["metadata"]
    uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid and uid != meta.get("uid"):
        raise errors.conflict(rt.plural, rt.group, meta["name"],
                              f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}")
    if rv and rv != meta.get("resourceVersion"):
        raise errors.conflict(rt.plural, rt.group, meta["name"],
                              f"Precondition failed: ResourceVersion in precondition: {rv}, "
                              f"ResourceVersion in object meta: {meta.get('resourceVersion')}")
