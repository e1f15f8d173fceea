"""Judge objects against CRD manifests the way a kube-apiserver would, without one.

A CRD's `openAPIV3Schema` is OpenAPI v3, not JSON Schema, and the API server reads it
with Kubernetes rules: unknown fields are pruned (and refused under
`kubectl apply --validate=strict`), `x-kubernetes-*` keys change what a node accepts,
and a handful of `format`s are checked. `validator_for` turns one version's schema
into a Draft 2020-12 validator with those rules, strict about unknown fields, so a
rendered field the CRD does not know is an error here rather than silent data loss
in a cluster.

Also here: `narrowings` (does one schema refuse something another accepts?) and a
small evaluator for the JSONPath subset printer columns use.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from pathlib import Path
from typing import Any, Iterator

from jsonschema import Draft202012Validator, FormatChecker
from ruamel.yaml import YAML

Schema = dict[str, Any]

# Keys of an OpenAPI schema node that carry no validation for our purposes.
_ANNOTATIONS = {"description", "example", "externalDocs", "title", "x-kubernetes-list-type",
                "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-embedded-resource",
                "x-kubernetes-validations"}


def load_crds(directory: Path) -> list[Schema]:
    yaml = YAML(typ="safe", pure=True)
    crds = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                doc.setdefault("_path", str(path))
                crds.append(doc)
    return crds


def find_crd(crds: list[Schema], group: str, kind: str) -> Schema | None:
    for crd in crds:
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            return crd
    return None


def version_of(crd: Schema, version: str) -> Schema | None:
    return next((v for v in crd["spec"]["versions"] if v["name"] == version), None)


def to_json_schema(node: Schema) -> Schema:
    """One OpenAPI v3 schema node (recursively) as a JSON Schema node."""
    out: Schema = {}
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    for key, value in node.items():
        if key in _ANNOTATIONS or key == "x-kubernetes-preserve-unknown-fields":
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = to_json_schema(value)
        elif key == "additionalProperties":
            out[key] = value if isinstance(value, bool) else to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key == "not":
            out[key] = to_json_schema(value)
        elif key == "nullable":
            continue
        elif key == "x-kubernetes-int-or-string":
            out["type"] = ["integer", "string"]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue  # handled with minimum/maximum below
        else:
            out[key] = value
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types + ["null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False  # the API server would prune these: refuse them
    return out


def _is_cidr(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats only constrain strings
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_ip(version: int):
    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False
    return check


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _in_range(bits: int):
    def check(value: object) -> bool:
        return not isinstance(value, int) or -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
    return check


def format_checker() -> FormatChecker:
    """The formats the API server checks in custom objects (those our CRDs and upstream's use)."""
    checker = FormatChecker(formats=())
    checker.checks("cidr")(_is_cidr)
    checker.checks("ipv4")(_is_ip(4))
    checker.checks("ipv6")(_is_ip(6))
    checker.checks("date-time")(_is_date_time)
    checker.checks("int32")(_in_range(32))
    checker.checks("int64")(_in_range(64))
    return checker


def validator_for(crd: Schema, version: str) -> Draft202012Validator:
    served = version_of(crd, version)
    if served is None:
        raise LookupError(f"{crd['metadata']['name']} has no version {version}")
    schema = to_json_schema(served["schema"]["openAPIV3Schema"])
    return Draft202012Validator(schema, format_checker=format_checker())


def problems(crd: Schema, obj: Schema) -> list[str]:
    """Why the API server would refuse (or prune part of) `obj`; empty when it is accepted."""
    version = obj.get("apiVersion", "").rpartition("/")[2]
    found = [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
             for e in validator_for(crd, version).iter_errors(obj)]
    return sorted(found) + metadata_problems(obj, namespaced=crd["spec"]["scope"] == "Namespaced")


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                             r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def metadata_problems(obj: Schema, *, namespaced: bool) -> list[str]:
    """ObjectMeta rules every object meets, whatever its CRD says."""
    meta = obj.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace")
    found = []
    if not (isinstance(name, str) and len(name) <= 253 and DNS1123_SUBDOMAIN.match(name)):
        found.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    if namespaced and not (isinstance(namespace, str) and len(namespace) <= 63 and DNS1123_LABEL.match(namespace)):
        found.append(f"metadata.namespace: {namespace!r}: a namespaced object needs a DNS-1123 label here")
    if not namespaced and namespace:
        found.append(f"metadata.namespace: {namespace!r} set on a cluster-scoped object")
    for key, value in (meta.get("labels") or {}).items():
        if not (_QUALIFIED_NAME.match(key) and len(key.rpartition("/")[2]) <= 63):
            found.append(f"metadata.labels: bad key {key!r}")
        if not (isinstance(value, str) and len(value) <= 63 and _LABEL_VALUE.match(value)):
            found.append(f"metadata.labels[{key}]: bad value {value!r}")
    for key, value in (meta.get("annotations") or {}).items():
        if not _QUALIFIED_NAME.match(key) or not isinstance(value, str):
            found.append(f"metadata.annotations: bad entry {key!r}")
    return found


# --- is one schema narrower than another? -------------------------------------------------------

def narrowings(ours: Schema, theirs: Schema, path: str = "") -> Iterator[str]:
    """Places where `ours` refuses, or changes by defaulting, something `theirs` accepts."""
    here = path or "<root>"
    if ours.get("x-kubernetes-preserve-unknown-fields") and "type" not in ours:
        return
    if ours.get("type") != theirs.get("type"):
        yield f"{here}: type {ours.get('type')!r}, upstream {theirs.get('type')!r}"
        return
    if "enum" in ours and not set(theirs.get("enum", [object()])) <= set(ours["enum"]):
        yield f"{here}: enum {ours['enum']} misses some of upstream's {theirs.get('enum', 'any value')}"
    for key, looser in (("minimum", min), ("minLength", min), ("minItems", min),
                        ("maximum", max), ("maxLength", max), ("maxItems", max)):
        if key in ours and (key not in theirs or looser(ours[key], theirs[key]) != ours[key]):
            yield f"{here}: {key} {ours[key]}, upstream {theirs.get(key, 'none')}"
    for key in ("pattern", "format"):
        if key in ours and ours[key] != theirs.get(key):
            yield f"{here}: {key} {ours[key]!r}, upstream {theirs.get(key, 'none')!r}"
    if "default" in ours and ours["default"] != theirs.get("default"):
        yield f"{here}: default {ours['default']!r}, upstream {theirs.get('default', 'none')!r}"
    extra_required = set(ours.get("required", [])) - set(theirs.get("required", []))
    if extra_required:
        yield f"{here}: requires {sorted(extra_required)}, upstream does not"
    for name, sub in theirs.get("properties", {}).items():
        if name not in ours.get("properties", {}):
            yield f"{path}.{name}: upstream field missing (would be pruned)"
        else:
            yield from narrowings(ours["properties"][name], sub, f"{path}.{name}")
    if isinstance(theirs.get("items"), dict):
        yield from narrowings(ours.get("items", {}), theirs["items"], f"{path}[]")
    if isinstance(theirs.get("additionalProperties"), dict):
        yield from narrowings(ours.get("additionalProperties", {}), theirs["additionalProperties"], f"{path}{{}}")


# --- the JSONPath subset of printer columns ----------------------------------------------------

_STEP = re.compile(r"""\.(?P<field>[A-Za-z_][A-Za-z0-9_-]*)
                     |\[(?P<index>\d+)\]
                     |\[(?P<star>\*)\]
                     |\['(?P<key>(?:[^'\\]|\\.)*)'\]
                     |\[\?\(@\.(?P<filter>[A-Za-z_][A-Za-z0-9_]*)==(?P<quote>["'])(?P<want>[^"']*)(?P=quote)\)\]""",
                   re.VERBOSE)


def parse_json_path(expression: str) -> list[tuple[str, Any]]:
    """Steps of a printer-column JSONPath; ValueError if it is not one kubectl would take."""
    if not expression.startswith("."):
        raise ValueError(f"{expression!r}: a printer column path starts with '.'")
    steps, at = [], 0
    while at < len(expression):
        match = _STEP.match(expression, at)
        if not match:
            raise ValueError(f"{expression!r}: cannot parse at {expression[at:]!r}")
        kind = next(k for k in ("field", "index", "star", "key", "filter") if match.group(k) is not None)
        value: Any = match.group(kind)
        if kind == "index":
            value = int(value)
        elif kind == "key":
            value = re.sub(r"\\(.)", r"\1", value)
        elif kind == "filter":
            value = (value, match.group("want"))
        steps.append((kind, value))
        at = match.end()
    return steps


def evaluate_json_path(expression: str, obj: Any) -> list[Any]:
    """Every value the path selects in `obj` (kubectl prints them comma-separated)."""
    current = [obj]
    for kind, value in parse_json_path(expression):
        nxt = []
        for item in current:
            if kind in ("field", "key") and isinstance(item, dict) and value in item:
                nxt.append(item[value])
            elif kind == "index" and isinstance(item, list) and value < len(item):
                nxt.append(item[value])
            elif kind == "star":
                nxt.extend(item if isinstance(item, list) else item.values() if isinstance(item, dict) else [])
            elif kind == "filter" and isinstance(item, list):
                field, want = value
                nxt.extend(e for e in item if isinstance(e, dict) and str(e.get(field)) == want)
        current = nxt
    return current
