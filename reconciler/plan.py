"""Compare the rendered objects with what a cluster holds, field by field.

Pure: it takes the desired objects and the live ones (from a `--state` file
today, from the API server for a live plan) and says, for every object, whether
it would be created, updated, deleted or left alone, and which fields change.

Ownership decides what may be touched. An object that carries our
`app.kubernetes.io/managed-by` label and this spec's `gitops.spidernet.io/spec`
label is ours; a live object of the same identity that is not ours is a
conflict (apply refuses it unless told to adopt); an object of ours that left
the spec is deleted when pruning is on and only reported when it is off.

Drift: objects applied by `spiderpool apply` carry a digest of what was applied
(`gitops.spidernet.io/applied-digest`). When the live object still carries the
digest of what we want now but its fields differ, the spec did not change — the
cluster did (a hand edit): that is `drift`, reported and only reverted with
self-heal. A differing digest means the spec changed: a plain `update`.

Only the fields this tool manages are compared: the whole `spec` (and a NAD's
JSON config, decoded so the diff names the plugin field), plus the labels and
annotations the spec sets; what controllers add (status, finalizers, other
labels) is not a change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from .render import MANAGED_BY, MANAGER, SOURCE_ANNOTATION, SPEC_LABEL, object_sort_key

Object = dict[str, Any]
ACTIONS = ("create", "update", "drift", "delete", "unchanged", "conflict", "orphan")
DIGEST_ANNOTATION = "gitops.spidernet.io/applied-digest"


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any  # MISSING when the field is new
    after: Any  # MISSING when the field goes away


@dataclass(frozen=True)
class Change:
    action: str
    api_version: str
    kind: str
    name: str
    namespace: str | None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass
class Plan:
    spec_name: str
    changes: list[Change] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def has_changes(self) -> bool:
        return any(c.action in ("create", "update", "drift", "delete") for c in self.changes)

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.action == "conflict"]


def identity(obj: Object) -> tuple[str, str, str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    meta = obj["metadata"]
    return group, obj["kind"], meta.get("namespace") or "", meta["name"]


def owner_of(obj: Object) -> str | None:
    """The spec name that owns a live object, or None when it is not ours."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels.get(SPEC_LABEL) if labels.get(MANAGED_BY) == MANAGER else None


def make_plan(desired: Iterable[Object], live: Iterable[Object], *, spec_name: str, prune: bool = True) -> Plan:
    live_by_id = {identity(o): o for o in live}
    plan = Plan(spec_name)
    wanted = set()
    for obj in desired:
        key = identity(obj)
        wanted.add(key)
        current = live_by_id.get(key)
        if current is None:
            plan.changes.append(_change("create", obj, diff(MISSING, managed_view(obj, obj))))
            continue
        owner = owner_of(current)
        if owner != spec_name:
            reason = (f"owned by NetworkSpec {owner!r}" if owner else "exists and is not managed by spiderpool-gitops")
            plan.changes.append(_change("conflict", obj, (), reason))
            continue
        fields = diff(managed_view(current, obj), managed_view(obj, obj))
        if not fields:
            plan.changes.append(_change("unchanged", obj, ()))
        elif _digest_of(obj) is not None and _digest_of(obj) == _digest_of(current):
            plan.changes.append(_change("drift", obj, fields, "changed in the cluster, not in the spec"))
        else:
            plan.changes.append(_change("update", obj, fields))
    leftovers = [o for key, o in live_by_id.items() if key not in wanted and owner_of(o) == spec_name]
    for obj in sorted(leftovers, key=object_sort_key):
        if prune:
            plan.changes.append(_change("delete", obj, ()))
        else:
            plan.changes.append(_change("orphan", obj, (), "left the spec; kept because sync.prune is false"))
    return plan


def _digest_of(obj: Object) -> str | None:
    return (obj.get("metadata", {}).get("annotations") or {}).get(DIGEST_ANNOTATION)


def with_digest(obj: Object) -> Object:
    """A copy of a rendered object carrying the digest of its own content."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]
    meta = dict(obj["metadata"], annotations={**obj["metadata"].get("annotations", {}), DIGEST_ANNOTATION: digest})
    return {**obj, "metadata": meta}


def _change(action: str, obj: Object, fields, reason: str = "") -> Change:
    meta = obj["metadata"]
    return Change(action, obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), tuple(fields), reason)


def managed_view(obj: Object, desired: Object) -> Object:
    """The parts of `obj` this tool owns, judged by what `desired` sets."""
    meta, wanted = obj.get("metadata", {}), desired["metadata"]
    view: Object = {}
    for section in ("labels", "annotations"):
        keys = set(wanted.get(section) or {}) | {MANAGED_BY, SPEC_LABEL, SOURCE_ANNOTATION}
        values = {k: v for k, v in (meta.get(section) or {}).items() if k in keys}
        if values:
            view[f"metadata.{section}"] = values
    spec = obj.get("spec")
    if spec is not None:
        view["spec"] = _decode_config(obj["kind"], spec)
    return view


def _decode_config(kind: str, spec: Object) -> Object:
    if kind != "NetworkAttachmentDefinition" or not isinstance(spec.get("config"), str):
        return spec
    try:
        return {**spec, "config": json.loads(spec["config"])}
    except ValueError:
        return spec


def diff(before: Any, after: Any) -> list[FieldChange]:
    """Leaf-level differences; label/annotation maps are compared key by key."""
    out: list[FieldChange] = []
    _diff("", before, after, out)
    return out


def _diff(path: str, before: Any, after: Any, out: list[FieldChange]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in _ordered_keys(before, after):
            child = _join(path, key)
            _diff(child, before.get(key, MISSING), after.get(key, MISSING), out)
    elif isinstance(after, dict) and before is MISSING:
        for key in after:
            _diff(_join(path, key), MISSING, after[key], out)
    elif isinstance(before, dict) and after is MISSING:
        for key in before:
            _diff(_join(path, key), before[key], MISSING, out)
    elif isinstance(before, list) and isinstance(after, list) and _is_list_of_dicts(before, after) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            _diff(f"{path}[{i}]", b, a, out)
    elif before != after or type(before) is not type(after):
        out.append(FieldChange(path, before, after))


def _ordered_keys(before: dict, after: dict) -> list:
    return list(after) + [k for k in before if k not in after]


def _is_list_of_dicts(*lists: list) -> bool:
    return all(isinstance(item, dict) for items in lists for item in items)


def _join(path: str, key: str) -> str:
    if not path:
        return key
    if path.startswith("metadata.") and path.count(".") == 1:
        return f"{path}[{key}]"  # label and annotation keys contain dots
    return f"{path}.{key}"
