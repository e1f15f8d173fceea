"""Writing an object only while it is this spec's: ownership enforced at write time.

The plan checks ownership when it reads the cluster; two applies running at once both
pass that check for an object neither has created yet, and with one shared field
manager and `force` the second silently took the first one's object. Now:

    create   server-side apply as the spec's own field manager (`spiderpool-gitops/<spec>`),
             without force: if another spec created the object meanwhile, its manager owns
             the `gitops.spidernet.io/spec` label with another value, and the server refuses
             (409): exactly one of two racing applies gets the object. If the object
             appeared unmanaged (someone's kubectl) with equal values, the answer shows
             other managers: we withdraw what we set and report the conflict.
    update   guarded by what the plan saw: the object carries this spec's label at that
             resourceVersion, and the apply carries the resourceVersion as a precondition.
             A 409 means it changed: read it again, and go on only while it is still ours.
             (The write forces, as before, so hand edits of *our* objects are reverted;
             the precondition keeps that force away from anybody else's object.)
    adopt    only with --adopt, forced, guarded by the resourceVersion the plan saw.

Objects applied before per-spec managers carry the shared manager `spiderpool-gitops`;
the first guarded write renames its entry (a guarded merge patch of managedFields), so
removal detection (plan.py, managedFields) keeps working under the new name.
"""

from __future__ import annotations

import copy
from typing import Any

from .kube import ApplyConflict, Cluster, Conflict
from .plan import FIELD_MANAGER, field_manager, our_managers, owner_of

Object = dict[str, Any]
ROUNDS = 5  # fresh reads per object before giving up


def describe_owner(obj: Object | None) -> str:
    if obj is None:
        return "gone"
    owner = owner_of(obj)
    if owner:
        return f"owned by NetworkSpec {owner!r}"
    managers = sorted({e.get("manager", "?") for e in obj.get("metadata", {}).get("managedFields") or ()
                       if e.get("subresource") != "status"})
    return "not managed by spiderpool-gitops" + (f" (fields set by {', '.join(managers)})" if managers else "")


def create(cluster: Cluster, desired: Object, *, spec_name: str, dry_run: bool) -> tuple[str, str]:
    """-> ("created", "") or ("conflict", why)."""
    manager = field_manager(spec_name)
    try:
        answer = cluster.apply(desired, force=False, dry_run=dry_run, manager=manager)
    except ApplyConflict:
        return "conflict", (f"appeared while this apply ran, {describe_owner(cluster.get(desired))}; "
                            "left as it was (use --adopt to take it over)")
    others = foreign_managers(answer, spec_name)
    if others and not dry_run:
        withdraw(cluster, desired, manager)
        return "conflict", (f"appeared while this apply ran (fields set by {', '.join(others)}); "
                            "left as it was (use --adopt to take it over)")
    return "created", ""


def foreign_managers(obj: Object, spec_name: str) -> list[str]:
    ours = our_managers(spec_name)
    return sorted({e.get("manager", "?") for e in obj.get("metadata", {}).get("managedFields") or ()
                   if e.get("manager") not in ours and e.get("subresource") != "status"})


def withdraw(cluster: Cluster, desired: Object, manager: str) -> None:
    """Give up every field only `manager` set (an empty apply): what others also set stays."""
    meta = desired["metadata"]
    empty = {"apiVersion": desired["apiVersion"], "kind": desired["kind"],
             "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta}}
    cluster.apply(empty, force=False, manager=manager)


def update(cluster: Cluster, desired: Object, live: Object, *, spec_name: str, dry_run: bool,
           adopt: bool = False) -> tuple[str, str]:
    """-> ("updated", "") or ("conflict", why) or ("failed", why)."""
    manager = field_manager(spec_name)
    for _ in range(ROUNDS):
        if live is None:
            return "failed", "deleted while this apply ran; a later apply creates it again"
        if owner_of(live) != spec_name and not adopt:
            return "conflict", f"taken over while this apply ran: {describe_owner(live)}"
        try:
            if not dry_run:
                live = migrate_manager(cluster, live, spec_name)
            body = copy.deepcopy(desired)
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            cluster.apply(body, force=True, dry_run=dry_run, manager=manager)
            return "updated", ""
        except Conflict:
            live = cluster.get(desired)  # it changed since we looked: look again
    return "failed", f"kept changing while being written ({ROUNDS} fresh reads); a later apply tries again"


def migrate_manager(cluster: Cluster, live: Object, spec_name: str) -> Object:
    """Rename the shared manager's apply entry to the spec's own (guarded); -> the object after."""
    entries = live.get("metadata", {}).get("managedFields") or []
    legacy = [e for e in entries if _is_legacy_apply(e)]
    if not legacy:
        return live
    mine = field_manager(spec_name)
    renamed: list[Object] = []
    target = None
    for entry in entries:
        if _is_legacy_apply(entry) or (entry.get("manager") == mine and entry.get("operation") == "Apply"
                                       and not entry.get("subresource")):
            if target is None:
                target = {**entry, "manager": mine, "fieldsV1": copy.deepcopy(entry.get("fieldsV1") or {})}
                renamed.append(target)
            else:
                _merge_fields(target["fieldsV1"], entry.get("fieldsV1") or {})
        else:
            renamed.append(entry)
    patch = {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"], "managedFields": renamed}}
    return cluster.merge_patch(live, patch, manager=mine)


def _is_legacy_apply(entry: Object) -> bool:
    return entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply" and not entry.get("subresource")


def _merge_fields(into: dict, more: dict) -> None:
    for key, sub in more.items():
        if key in into and isinstance(into[key], dict) and isinstance(sub, dict):
            _merge_fields(into[key], sub)
        else:
            into.setdefault(key, copy.deepcopy(sub))
