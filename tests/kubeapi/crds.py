"""CustomResourceDefinitions: validating them and turning them into served resource types.

Creating a CRD on the real server makes its resources appear in discovery and under
`/apis/<group>/<version>/...` once the `Established` condition is True; deleting it removes
them. Here registration is synchronous: the CRD is stored with `NamesAccepted` and
`Established` True, `acceptedNames` and `storedVersions`, and every served version becomes a
`ResourceType` carrying its schema, printer columns, selectable fields and status subresource.
A CRD whose names collide with served ones is stored with `NamesAccepted` False and serves
nothing, as upstream.
"""

from __future__ import annotations

import re

from .errors import FieldError
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


def _validate_versions(versions: object) -> list[FieldError]:
    if not isinstance(versions, list) or not versions:
        return [FieldError("spec.versions", "Invalid", "must have exactly one version marked as storage version",
                           versions if isinstance(versions, list) else None)]
    errs = []
    if sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(FieldError("spec.versions", "Invalid", "must have exactly one version marked as storage version",
                               [v.get("name") for v in versions]))
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


def establish(crd: dict, registry: Registry, now: str, *, register: bool = True) -> bool:
    """Write the CRD's status and (unless a dry run) register its resources; False when its
    names collide with served ones."""
    spec, names = crd["spec"], names_of(crd)
    wanted = {names["plural"], names["singular"], names["kind"], *(names.get("shortNames") or ())}
    accepted = not registry.name_taken(spec["group"], wanted, crd["metadata"]["name"])
    previous = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
    status = "True" if accepted else "False"

    def condition(kind: str, reason: str, message: str) -> dict:
        old = previous.get(kind)
        since = old["lastTransitionTime"] if old and old.get("status") == status else now
        return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}

    stored = list((crd.get("status") or {}).get("storedVersions") or [])
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    if accepted and storage not in stored:
        stored.append(storage)
    crd["status"] = {
        "acceptedNames": names if accepted else {"kind": "", "plural": ""},
        "conditions": [
            condition("NamesAccepted", "NoConflicts" if accepted else "NameConflict",
                      "no conflicts found" if accepted else "a resource with these names is already served"),
            condition("Established", "InitialNamesAccepted" if accepted else "NotAccepted",
                      "the initial names have been accepted" if accepted else "not all names are accepted"),
        ],
        "storedVersions": stored,
    }
    if accepted and register:
        registry.register_crd(crd["metadata"]["name"], resource_types(crd))
    return accepted


def preferred(versions: list[str]) -> str:
    return sorted(versions, key=version_priority)[0]
