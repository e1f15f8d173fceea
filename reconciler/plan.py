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

A change that would strand allocated IPs (a pool's `ips` shrunk under live allocations,
its `subnet` or `ipVersion` changed while in use) is `refused`: apply refuses it
(reconciler.inuse, the guard upstream's webhook gives).

Only the fields this tool manages are compared: the spec (a NAD's JSON config
decoded, so the diff names the plugin field) and the labels and annotations the
spec sets, and the finalizers it sets. A field only the live object has counts as
a removal when our field manager owns it (managedFields); what the server defaults
or controllers add (status, others' finalizers, other labels, CRD defaults) is not
a change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from .inuse import stranded
from .model import Object
from .render import MANAGED_BY, MANAGER, SOURCE_ANNOTATION, SPEC_LABEL, object_sort_key

FIELD_MANAGER = "spiderpool-gitops"  # CRDs, finalizer releases, and (before issue 8) every object's applies


def field_manager(spec_name: str) -> str:
    """The server-side apply field manager of one spec: two specs' claims on one field conflict
    on the server, at write time (the spec label alone guarantees one such field)."""
    return f"{FIELD_MANAGER}/{spec_name}"


def our_managers(spec_name: str) -> frozenset[str]:
    """Managers whose fields count as this spec's: its own and the shared name applies used
    before per-spec managers (migrated on the next write, see apply._migrate_manager)."""
    return frozenset({field_manager(spec_name), FIELD_MANAGER})

ACTIONS = ("create", "update", "drift", "delete", "unchanged", "conflict", "rejected", "refused", "orphan")
DIGEST_ANNOTATION = "gitops.spidernet.io/applied-digest"
# Written with every object, never a reason to write one: a comment added above a pool
# moves its source line, and that alone must not make a plan (or Argo CD) report a change.
INFORMATIONAL = {SOURCE_ANNOTATION}


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
    drain: bool = False  # a delete of a pool/subnet still in use: it is disabled and drained first

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The object's `identity()`."""
        return self.api_version.rpartition("/")[0], self.kind, self.namespace or "", self.name


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

    @property
    def refused(self) -> list[Change]:
        """Changes this tool will not make: one that would strand allocated IPs (reconciler.inuse) or
        pull a subnet from under its auto pools (reconciler.autopoolguard). apply refuses them all."""
        return [c for c in self.changes if c.action == "refused"]

    @property
    def rejected(self) -> list[Change]:
        """Changes a server-side dry run refused (live plans only)."""
        return [c for c in self.changes if c.action == "rejected"]


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
            # what --adopt would write: the fields we set (others' fields, status, finalizers stay)
            fields = diff(managed_view(current, obj), managed_view(obj, obj), owned=set())
            unsafe = stranded(obj, current)  # adopting it would strand them too: refused even with --adopt
            plan.changes.append(_change("refused", obj, fields,
                                        f"{unsafe} (and it is not this spec's: {conflict_reason(current, owner)})")
                                if unsafe else _change("conflict", obj, fields, conflict_reason(current, owner)))
            continue
        fields = diff(managed_view(current, obj), managed_view(obj, obj), owned=_ownership(current, spec_name))
        unsafe = stranded(obj, current) if fields else ""
        if not fields:
            plan.changes.append(_change("unchanged", obj, ()))
        elif unsafe:
            plan.changes.append(_change("refused", obj, fields, unsafe))
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


UPSTREAM_FINALIZER = "spiderpool.spidernet.io"  # upstream's controllers put it on pools, subnets, the coordinator


def conflict_reason(live: Object, owner: str | None) -> str:
    """Why a live object is in the way, in words: another spec's, upstream Spiderpool's, or someone's."""
    if owner:
        return f"owned by NetworkSpec {owner!r}"
    meta = live.get("metadata") or {}
    managers = sorted({e.get("manager", "?") for e in meta.get("managedFields") or ()
                       if e.get("subresource") != "status"})
    upstream = [f"finalizer {UPSTREAM_FINALIZER}"] if UPSTREAM_FINALIZER in (meta.get("finalizers") or ()) else []
    upstream += [f"written by {m}" for m in managers if m.startswith("spiderpool") and m != FIELD_MANAGER
                 and not m.startswith(FIELD_MANAGER + "/")]
    annotations = meta.get("annotations") or {}
    if annotations.get("meta.helm.sh/release-name"):
        upstream.append(f"Helm release {annotations.get('meta.helm.sh/release-namespace', '?')}/"
                        f"{annotations['meta.helm.sh/release-name']}")
    if upstream and live.get("apiVersion", "").startswith("spiderpool.spidernet.io/"):
        return ("created by upstream Spiderpool (" + ", ".join(upstream) + "), not by spiderpool-gitops; with "
                "--adopt this spec takes it over and writes the fields below; the others, its status and "
                "upstream's finalizer stay as they are")
    return "exists and is not managed by spiderpool-gitops" + (
        f" (fields set by {', '.join(managers)}); --adopt would write the fields below" if managers else
        "; --adopt would write the fields below")


def _ownership(live: Object, spec_name: str) -> set[tuple] | None:
    """What we own of a live object: from managedFields when the server sent them; without
    them (a `kubectl get -o yaml` state file) only the fields we set now are compared."""
    return owned_paths(live, our_managers(spec_name)) if live.get("metadata", {}).get("managedFields") else set()


def _digest_of(obj: Object) -> str | None:
    return (obj.get("metadata", {}).get("annotations") or {}).get(DIGEST_ANNOTATION)


def with_digest(obj: Object) -> Object:
    """A copy of a rendered object carrying the digest of its content (informational annotations aside)."""
    annotations = {k: v for k, v in obj["metadata"].get("annotations", {}).items() if k not in INFORMATIONAL}
    content = {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]
    meta = dict(obj["metadata"], annotations={**obj["metadata"].get("annotations", {}), DIGEST_ANNOTATION: digest})
    return {**obj, "metadata": meta}


def _change(action: str, obj: Object, fields, reason: str = "") -> Change:
    meta = obj["metadata"]
    return Change(action, obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), tuple(fields), reason)


def managed_view(obj: Object, desired: Object) -> Object:
    """The parts of `obj` this tool manages: labels/annotations it sets (or owns), and the spec."""
    meta, wanted = obj.get("metadata", {}), desired["metadata"]
    owned = owned_paths(obj, our_managers((wanted.get("labels") or {}).get(SPEC_LABEL, "")))
    view: Object = {}
    for section in ("labels", "annotations"):
        keys = set(wanted.get(section) or {}) | {MANAGED_BY, SPEC_LABEL}
        keys |= {path[2] for path in owned if len(path) == 3 and path[:2] == ("metadata", section)}
        keys -= INFORMATIONAL
        values = {k: v for k, v in (meta.get(section) or {}).items() if k in keys}
        if values:
            view.setdefault("metadata", {})[section] = values
    ours = [f for f in meta.get("finalizers") or () if f in (wanted.get("finalizers") or ())]
    if ours:  # only the finalizers we set: one stripped by hand is drift, others' are none of our business
        view.setdefault("metadata", {})["finalizers"] = ours
    spec = obj.get("spec")
    if spec is not None:
        view["spec"] = _decode_config(obj["kind"], spec)
    return view


def owned_paths(obj: Object, managers: str | frozenset[str] = FIELD_MANAGER) -> set[tuple]:
    """Field paths our field manager(s) own, from `metadata.managedFields` (empty when absent)."""
    managers = frozenset({managers}) if isinstance(managers, str) else managers
    paths: set[tuple] = set()
    for entry in obj.get("metadata", {}).get("managedFields") or ():
        if entry.get("manager") in managers and entry.get("fieldsType", "FieldsV1") == "FieldsV1":
            _collect(entry.get("fieldsV1") or {}, (), paths)
    return paths


def _collect(fields: dict, path: tuple, out: set[tuple]) -> None:
    for key, sub in fields.items():
        if not key.startswith("f:"):
            out.add(path)  # list items (k:/v:/i:): we own the list as a whole
            continue
        child = path + (key[2:],)
        if sub:
            _collect(sub, child, out)
        else:
            out.add(child)


def _decode_config(kind: str, spec: Object) -> Object:
    if kind != "NetworkAttachmentDefinition" or not isinstance(spec.get("config"), str):
        return spec
    try:
        return {**spec, "config": json.loads(spec["config"])}
    except ValueError:
        return spec


def diff(before: Any, after: Any, *, owned: set[tuple] | None = None) -> list[FieldChange]:
    """Leaf-level differences from `before` (live) to `after` (desired).

    A field only the live object has is a removal when we own it (`owned`, from
    managedFields), or always when `owned` is None; otherwise the server or
    someone else put it there (a CRD default, say) and it is none of our business.
    """
    out: list[FieldChange] = []
    _diff((), before, after, out, owned)
    return out


def _owns(owned: set[tuple] | None, path: tuple) -> bool:
    if owned is None:
        return True
    return any(path[:cut] in owned for cut in range(1, len(path) + 1))


def _diff(path: tuple, before: Any, after: Any, out: list[FieldChange], owned: set[tuple] | None) -> None:
    if after is MISSING and not _owns(owned, path):
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in _ordered_keys(before, after):
            _diff(path + (key,), before.get(key, MISSING), after.get(key, MISSING), out, owned)
    elif isinstance(after, dict) and before is MISSING:
        for key in after:
            _diff(path + (key,), MISSING, after[key], out, owned)
    elif isinstance(before, dict) and after is MISSING:
        for key in before:
            _diff(path + (key,), before[key], MISSING, out, owned)
    elif isinstance(before, list) and isinstance(after, list) and _is_list_of_dicts(before, after) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            _diff(path + (i,), b, a, out, None)
    elif before != after or type(before) is not type(after):
        out.append(FieldChange(format_field(path), before, after))


def _ordered_keys(before: dict, after: dict) -> list:
    return list(after) + [k for k in before if k not in after]


def _is_list_of_dicts(*lists: list) -> bool:
    return all(isinstance(item, dict) for items in lists for item in items)


def format_field(path: tuple) -> str:
    """('metadata', 'labels', 'a.b/c') -> metadata.labels[a.b/c]; ('spec', 'x', 0) -> spec.x[0]."""
    out = ""
    for i, part in enumerate(path):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i == 2 and path[0] == "metadata":
            out += f"[{part}]"  # label and annotation keys contain dots
        else:
            out += f".{part}" if out else part
    return out
