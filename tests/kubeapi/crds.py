"""CustomResourceDefinitions: validating them and turning them into served resource types.

Creating a CRD on the real server makes its resources appear in discovery and under
`/apis/<group>/<version>/...` once the `Established` condition is True; deleting it removes
them. Here it happens within the create request, in two writes as upstream's answer shows:
the CRD is stored without conditions (the create answer), then its status is written as the
naming and establishing controllers write it (`NamesAccepted`, `Established`, `acceptedNames`,
`storedVersions`, managed by "kube-apiserver" on `/status`), and every served version becomes
a `ResourceType` carrying its schema, printer columns, selectable fields and status
subresource. A CRD whose names collide with another's is `NamesAccepted` False with the
clashing name's reason and serves nothing, as upstream.
"""

from __future__ import annotations

import json
import re

from .errors import FieldError, GoText
from .registry import Registry, ResourceType, version_priority

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def names_of(crd: dict) -> dict:
    names = dict(crd.get("spec", {}).get("names") or {})
    kind = names.get("kind", "")
    names.setdefault("singular", kind.lower())
    names.setdefault("listKind", kind + "List")
    return names


def validate_crd(crd: dict) -> list[FieldError]:
    spec, errs = crd.get("spec") or {}, []
    names = spec.get("names") or {}
    group, plural = spec.get("group", ""), names.get("plural", "")
    if not group:
        errs.append(FieldError("spec.group", "Required"))
    elif "." not in group:
        errs.append(FieldError("spec.group", "Invalid", "should be a domain with at least one dot", group))
    if not plural:
        errs.append(FieldError("spec.names.plural", "Required"))
    elif not DNS_LABEL.fullmatch(plural):
        errs.append(FieldError("spec.names.plural", "Invalid", "a lowercase RFC 1123 label must consist of lower "
                                                               "case alphanumeric characters or '-'", plural))
    if not names.get("kind"):
        errs.append(FieldError("spec.names.kind", "Required"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(FieldError("spec.scope", "NotSupported", 'supported values: "Cluster", "Namespaced"',
                               spec.get("scope", "")))
    name = crd.get("metadata", {}).get("name", "")
    if group and plural and name != f"{plural}.{group}":
        errs.append(FieldError("metadata.name", "Invalid", 'must be spec.names.plural+"."+spec.group', name))
    errs.extend(_validate_versions(spec.get("versions")))
    return errs


def _go_versions(versions: list) -> GoText:
    """spec.versions as kube-apiserver prints it in this error: its internal Go structs, in which
    a schema, subresources and columns shared by every version have moved to spec level (null)."""
    def one(v: dict) -> dict:
        return {"Name": v.get("name", ""), "Served": bool(v.get("served", False)),
                "Storage": bool(v.get("storage", False)), "Deprecated": bool(v.get("deprecated", False)),
                "DeprecationWarning": v.get("deprecationWarning"), "Schema": None, "Subresources": None,
                "AdditionalPrinterColumns": None, "SelectableFields": None}
    return GoText(json.dumps([one(v) for v in versions], separators=(",", ":")))


def _validate_versions(versions: object) -> list[FieldError]:
    if not isinstance(versions, list) or not versions:
        return [FieldError("spec.versions", "Invalid", "must have exactly one version marked as storage version",
                           versions if isinstance(versions, list) else None)]
    errs = []
    storage = sum(1 for v in versions if v.get("storage"))
    if storage != 1:
        errs.append(FieldError("spec.versions", "Invalid", "must have exactly one version marked as storage version",
                               _go_versions(versions)))
    for i, version in enumerate(versions):
        if not version.get("name"):
            errs.append(FieldError(f"spec.versions[{i}].name", "Required"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            errs.append(FieldError(f"spec.versions[{i}].schema.openAPIV3Schema", "Required",
                                   "schemas are required"))
        elif schema.get("type") not in (None, "object"):
            errs.append(FieldError(f"spec.versions[{i}].schema.openAPIV3Schema.type", "Invalid",
                                   "must be object at the root", schema.get("type")))
        else:
            errs.extend(_forbidden_in_schema(schema, "spec.validation.openAPIV3Schema"))
    if storage == 0:  # storedVersions start from the storage version: there is none
        errs.append(FieldError("status.storedVersions", "Invalid", "must have at least one stored version",
                               GoText("null")))
    return errs


def _forbidden_in_schema(schema: dict, path: str) -> list[FieldError]:
    """What kube-apiserver refuses anywhere in a structural schema (found by running the real
    one): `uniqueItems: true`, whose runtime cost is quadratic."""
    errs, stack = [], [(schema, path)]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("uniqueItems") is True:
            errs.append(FieldError(f"{where}.uniqueItems", "Forbidden",
                                   "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
        for key, child in (node.get("properties") or {}).items():
            stack.append((child, f"{where}.properties[{key}]"))
        if isinstance(node.get("items"), dict):
            stack.append((node["items"], f"{where}.items"))
        if isinstance(node.get("additionalProperties"), dict):
            stack.append((node["additionalProperties"], f"{where}.additionalProperties"))
    return sorted(errs, key=lambda e: e.field)


def apply_crd_defaults(crd: dict) -> None:
    spec = crd.setdefault("spec", {})
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or []:
        version.setdefault("served", True)
        version.setdefault("storage", False)


def resource_types(crd: dict) -> list[ResourceType]:
    spec, names = crd["spec"], names_of(crd)
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        out.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"], kind=names["kind"],
            namespaced=spec["scope"] == "Namespaced", singular=names["singular"],
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            has_status="status" in subresources, tracks_generation=True,
            field_selectors=tuple(f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or ()),
            builtin=False, allow_unconditional_update=False,
            schema=(version.get("schema") or {}).get("openAPIV3Schema") or {},
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            crd_name=crd["metadata"]["name"],
        ))
    return out


def initial_status(crd: dict) -> dict:
    """The status a CRD is created with: no conditions and no accepted names yet (kube-apiserver's
    naming and establishing controllers fill them in a moment later), the storage version stored."""
    storage = [v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")]
    return {"conditions": None, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": storage}


def establish(crd: dict, registry: Registry, now: str, *, register: bool = True) -> bool:
    """Write the CRD's status as kube-apiserver's naming and establishing controllers do and
    (unless a dry run) register its resources; False when it is not Established.

    Each requested name is accepted unless another CRD of the group (or a built-in type) uses it;
    the last clash found names the reason (PluralConflict, SingularConflict, ShortNamesConflict,
    KindConflict, ListKindConflict) with the message `"<name>" is already in use`."""
    spec, names = crd["spec"], names_of(crd)
    old_status = crd.get("status") or {}
    accepted_before = old_status.get("acceptedNames") or {}
    resources, kinds = registry.names_in_group(spec["group"], crd["metadata"]["name"])
    new_names = {k: v for k, v in accepted_before.items() if k != "categories"}
    reason, message = "", ""

    def fresh(requested: str, accepted: str, used: set) -> str:
        return "" if requested == accepted or requested not in used else f'"{requested}" is already in use'

    for key, pool, why in (("plural", resources, "PluralConflict"), ("singular", resources, "SingularConflict")):
        error = fresh(names.get(key, ""), accepted_before.get(key, ""), pool)
        if error:
            reason, message = why, error
        else:
            new_names[key] = names.get(key, "")
    wanted_short = list(names.get("shortNames") or [])
    if wanted_short != list(accepted_before.get("shortNames") or []):
        mine = set(accepted_before.get("shortNames") or [])
        errors_ = [e for e in (fresh(n, "", resources) for n in wanted_short if n not in mine) if e]
        if errors_:
            reason = "ShortNamesConflict"
            message = errors_[0] if len(errors_) == 1 else "[" + ", ".join(errors_) + "]"
        else:
            new_names["shortNames"] = wanted_short
    for key, why in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        error = fresh(names.get(key, ""), accepted_before.get(key, ""), kinds)
        if error:
            reason, message = why, error
        else:
            new_names[key] = names.get(key, "")
    if names.get("categories"):
        new_names["categories"] = list(names["categories"])
    new_names = {k: v for k, v in new_names.items() if v or k in ("plural", "kind")}
    accepted = not reason
    previous = {c["type"]: c for c in old_status.get("conditions") or []}

    def condition(kind: str, status: str, why: str, text: str) -> dict:
        old = previous.get(kind)
        since = old["lastTransitionTime"] if old and old.get("status") == status else now
        return {"type": kind, "status": status, "lastTransitionTime": since, "reason": why, "message": text}

    names_accepted = condition("NamesAccepted", "True", "NoConflicts", "no conflicts found") if accepted \
        else condition("NamesAccepted", "False", reason, message)
    established = previous.get("Established")
    if accepted and (established is None or established.get("status") != "True"):
        established = condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted")
    elif established is None:
        established = condition("Established", "False", "NotAccepted", "not all names are accepted")
    stored = list(old_status.get("storedVersions") or [])
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    if storage not in stored:
        stored.append(storage)
    crd["status"] = {"conditions": [names_accepted, established], "acceptedNames": new_names,
                     "storedVersions": stored}
    serve = established["status"] == "True"
    if serve and register:
        registry.register_crd(crd["metadata"]["name"], resource_types(crd))
    return serve


def preferred(versions: list[str]) -> str:
    return sorted(versions, key=version_priority)[0]
