"""Field managers: who owns which fields, and what server-side apply does with that.

This is the part of the apiserver that makes `PATCH application/apply-patch+yaml` more than a
merge: every write records its manager's fields (operation `Update` for create/update/patch,
`Apply` for server-side apply), and an apply

  1. merges the applied configuration into the live object,
  2. refuses (409, causes naming each field and the other manager) to change a field another
     manager owns, unless `force` -- then the field changes hands,
  3. removes fields the manager applied before but no longer applies, unless someone else
     owns them,
  4. makes the manager own exactly what it applied (shared ownership for equal values).

As upstream, manager "kubectl" may take over fields it set through client-side apply (those in
the last-applied annotation still matching the live object) without a conflict, and its
applies keep that annotation in sync.

Managers are keyed by (name, operation, subresource), as in the real `managedFields`. Which
parts of an object count is scoped per subresource: the main resource never owns `status`
(when the type has a status subresource), `/status` owns nothing but `status`; identity
fields (apiVersion, kind, name, namespace, uid, resourceVersion, ...) are never owned.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from . import errors
from .fieldpaths import Path, Shape, apply_merge, decode, encode, get_path, leaves, path_string, remove_path

KUBECTL = "kubectl"
BEFORE_FIRST_APPLY = "before-first-apply"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_ABSENT = object()
IGNORED_METADATA = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
                    "generateName"}


@dataclass(frozen=True)
class Manager:
    name: str
    operation: str  # "Apply" | "Update"
    subresource: str = ""
    api_version: str = ""
    time: str = ""
    fields: frozenset = field(default=frozenset())

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.operation, self.subresource)

    def describe(self) -> str:
        text = f'"{self.name}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


Managers = dict  # (name, operation, subresource) -> Manager


def owned_view(obj: dict | None, *, subresource: str, has_status: bool) -> dict:
    """The part of an object field managers can own for writes to `subresource`."""
    if not obj:
        return {}
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    view = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if has_status:
        view.pop("status", None)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in IGNORED_METADATA}
    if meta:
        view["metadata"] = meta
    else:
        view.pop("metadata", None)
    return view


def track_update(managers: Managers, old: dict | None, new: dict, shape: Shape, *, manager: str,
                 subresource: str, api_version: str, has_status: bool, now: str) -> Managers:
    """Give `manager` (operation Update) the fields this write changed; others lose them."""
    before = leaves(owned_view(old, subresource=subresource, has_status=has_status), shape, all_nodes=True)
    after = leaves(owned_view(new, subresource=subresource, has_status=has_status), shape, all_nodes=True)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = set(before) - set(after)
    if not changed and not removed:
        return managers
    key = (manager, "Update", subresource)
    result = {}
    for k, m in managers.items():
        if k != key:
            result[k] = replace(m, fields=frozenset(m.fields - changed - removed))
    mine = managers.get(key)
    fields = ((mine.fields if mine else frozenset()) | changed) - removed
    result[key] = Manager(manager, "Update", subresource, api_version, now, frozenset(fields))
    return {k: m for k, m in result.items() if m.fields}


def apply(managers: Managers, live: dict, config: dict, shape: Shape, *, manager: str,
          subresource: str, api_version: str, has_status: bool, force: bool,
          now: str) -> tuple[dict, Managers]:
    """Server-side apply of `config` onto `live`; returns (new object, new managers)."""
    scope = {"subresource": subresource, "has_status": has_status}
    key = (manager, "Apply", subresource)
    applied_view = owned_view(config, **scope)
    applied = frozenset(leaves(applied_view, shape))
    merged = apply_merge(copy.deepcopy(live), applied_view, shape)
    before = leaves(owned_view(live, **scope), shape, all_nodes=True)
    after = leaves(owned_view(merged, **scope), shape, all_nodes=True)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}

    others = {k: m for k, m in managers.items() if k != key}
    conflicts = {k: m.fields & changed for k, m in others.items() if m.fields & changed}
    if conflicts and not force and manager == KUBECTL:
        allowed = _last_applied_fields(live, shape, scope)
        if all(paths <= allowed for paths in conflicts.values()):
            force = True
        else:
            conflicts = {k: paths - allowed for k, paths in conflicts.items() if paths - allowed}
    if conflicts and not force:
        raise _conflict_error(others, conflicts)
    others = {k: replace(m, fields=m.fields - conflicts.get(k, frozenset())) for k, m in others.items()}

    owned_by_others = set().union(*(m.fields for m in others.values())) if others else set()
    previous = managers[key].fields if key in managers else frozenset()
    keep = owned_by_others | applied
    for path in sorted(previous - applied, key=len):  # list items before their fields
        if any(q[:len(path)] == path for q in keep):
            continue
        remove_path(merged, path)
        _drop_empty_parents(merged, path, keep)

    final = leaves(owned_view(merged, **scope), shape, all_nodes=True)
    removed = set(before) - set(final)
    result = {k: replace(m, fields=m.fields - removed) for k, m in others.items()}
    result[key] = Manager(manager, "Apply", subresource, api_version,
                          now if (key not in managers or previous != applied or changed or removed)
                          else managers[key].time, applied)
    return merged, {k: m for k, m in result.items() if m.fields or k == key}


def before_first_apply(live: dict, shape: Shape, *, subresource: str, api_version: str, has_status: bool,
                       now: str) -> Managers:
    """What an apply sees on an existing object without managedFields: as upstream, an Update
    manager "before-first-apply" owns every field the object has, so applying a different
    value conflicts until forced."""
    return track_update({}, None, live, shape, manager=BEFORE_FIRST_APPLY, subresource=subresource,
                        api_version=api_version, has_status=has_status, now=now)


def _last_applied_fields(live: dict, shape: Shape, scope: dict) -> frozenset:
    """Fields of kubectl's last-applied annotation whose values the live object still has.

    The apiserver lets `kubectl apply --server-side` (manager "kubectl") take these over from
    client-side apply without a conflict -- the CSA-to-SSA upgrade path."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
    except ValueError:
        last = None
    if not isinstance(last, dict):
        return frozenset()
    current = leaves(owned_view(live, **scope), shape, all_nodes=True)
    return frozenset(p for p, v in leaves(owned_view(last, **scope), shape).items() if current.get(p, _ABSENT) == v)


def last_applied_annotation(config: dict) -> str:
    """What kubectl server-side apply's last-applied annotation becomes: the applied config."""
    config = copy.deepcopy(config)
    annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return json.dumps(config, sort_keys=True, separators=(",", ":")) + "\n"


def _drop_empty_parents(obj: dict, path: Path, owned: set) -> None:
    for end in range(len(path) - 1, 0, -1):
        parent = path[:end]
        if parent[-1][0] != "f" or parent in owned:
            return
        node = get_path(obj, parent)
        if node != {}:
            return
        remove_path(obj, parent)


def _conflict_error(others: Managers, conflicts: dict) -> errors.ApiError:
    entries = sorted((others[k].describe(), path_string(p), k) for k, paths in conflicts.items() for p in paths)
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": where}
              for who, where, _ in entries]
    if len(entries) == 1:
        message = f"Apply failed with 1 conflict: conflict with {entries[0][0]}: {entries[0][1]}"
    else:
        lines, last = [], None
        for who, where, _ in entries:
            if who != last:
                lines.append(f"conflicts with {who}:")
                last = who
            lines.append(f"- {where}")
        message = f"Apply failed with {len(entries)} conflicts: " + "\n".join(lines)
    return errors.apply_conflict(message, causes)


# -- metadata.managedFields -------------------------------------------------------------------

def to_managed_fields(managers: Managers) -> list[dict]:
    entries = []
    for m in managers.values():
        entry = {"manager": m.name, "operation": m.operation, "apiVersion": m.api_version,
                 "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": encode(set(m.fields))}
        if m.subresource:
            entry["subresource"] = m.subresource
        entries.append(entry)
    return sorted(entries, key=lambda e: (e["operation"], e["time"], e["manager"], e.get("subresource", "")))


def from_managed_fields(entries: list) -> Managers:
    """Managers from a client-supplied `metadata.managedFields`; ValueError when malformed."""
    if not isinstance(entries, list):
        raise ValueError("metadata.managedFields must be a list")
    result: Managers = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("metadata.managedFields entries must be objects")
        if not entry:  # `managedFields: [{}]` resets tracking, as on the real server
            continue
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise ValueError(f"metadata.managedFields: invalid operation {operation!r}")
        fields = decode(entry.get("fieldsV1") or {})
        m = Manager(entry.get("manager", ""), operation, entry.get("subresource", ""),
                    entry.get("apiVersion", ""), normalize_time(entry.get("time")), frozenset(fields))
        result[m.key] = m
    return result


def normalize_time(value: str | None) -> str:
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def same(a: Managers, b: Managers) -> bool:
    return a.keys() == b.keys() and all(a[k].fields == b[k].fields for k in a)
