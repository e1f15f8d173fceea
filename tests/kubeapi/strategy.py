"""Per-resource write rules (the apiserver's "strategies"), as pure functions over objects.

What the server owns in an object and how writes may change it: uid, creationTimestamp and
generation are set on create and immutable after; `metadata.generation` starts at 1 and is
bumped when anything but metadata and status changes (for the types that track it); with a
`status` subresource, main-resource writes cannot change status and `/status` writes can
change nothing else; names and labels are validated with the apiserver's messages; custom
resources are pruned, defaulted and validated against their CRD version schema.
"""

from __future__ import annotations

import copy
import random
import re
import uuid
from datetime import datetime, timezone

from . import errors, schema
from .errors import FieldError
from .registry import ResourceType

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                 "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                 r"for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                   "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                   "'my_value',  or '12345', regex used for validation is "
                   "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(prefix: str, rng: random.Random) -> str:
    return prefix + "".join(rng.choice(_NAME_CHARS) for _ in range(5))


# -- validation -------------------------------------------------------------------------------

def validate_metadata(rt: ResourceType, obj: dict) -> list[FieldError]:
    meta, errs = obj.get("metadata") or {}, []
    name = meta.get("name", "")
    if not name:
        errs.append(FieldError("metadata.name", "Required", "name or generateName is required"))
    elif rt.plural == "namespaces" and not (DNS_LABEL.fullmatch(name) and len(name) <= 63):
        errs.append(FieldError("metadata.name", "Invalid", LABEL_MSG, name))
    elif not (DNS_SUBDOMAIN.fullmatch(name) and len(name) <= 253):
        errs.append(FieldError("metadata.name", "Invalid", SUBDOMAIN_MSG, name))
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        return errs + [FieldError("metadata.labels", "Invalid", "must be a map of strings", labels)]
    for key, value in labels.items():
        prefix, _, base = key.rpartition("/")
        if not QUALIFIED_NAME.fullmatch(base) or len(base) > 63 or (prefix and not DNS_SUBDOMAIN.fullmatch(prefix)):
            errs.append(FieldError("metadata.labels", "Invalid", "name part must consist of alphanumeric "
                                   "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                                   "character", key))
        if not isinstance(value, str) or not LABEL_VALUE.fullmatch(value) or len(value) > 63:
            errs.append(FieldError("metadata.labels", "Invalid", LABEL_VALUE_MSG, value))
    return errs


def check_custom_resource(rt: ResourceType, obj: dict, field_validation: str) -> list[str]:
    """Prune, default and validate a custom object in place; returns unknown-field warnings."""
    if rt.builtin or rt.schema is None:
        return []
    dropped = schema.prune(obj, rt.schema)
    if dropped and field_validation == "Strict":
        raise errors.strict_decoding(rt.kind, rt.version, dropped)
    schema.apply_defaults(obj, rt.schema)
    found = schema.validate(obj, rt.schema)
    found = [e for e in found if not e.field.startswith("metadata")]
    if found:
        raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), sorted(found, key=lambda e: e.field))
    return [] if field_validation == "Ignore" else [f'unknown field "{p}"' for p in dropped]


def prune_config(rt: ResourceType, config: dict, field_validation: str, *, sent_namespace: str = "") -> list[str]:
    """An apply configuration must declare only fields of the CRD schema: kube-apiserver answers
    500 for any other (whatever `fieldValidation` says) instead of pruning them as it does for
    create and update bodies. `sent_namespace` is the one the configuration itself carried (the
    message names it). Returns no warnings; kept for the call's shape."""
    if rt.builtin or rt.schema is None:
        return []
    dropped = schema.prune(config, rt.schema)
    if dropped:
        meta = config.get("metadata") or {}
        raise errors.typed_patch_failure(sent_namespace, meta.get("name", ""), config["apiVersion"],
                                         config["kind"], dropped)
    return []


def check_identity(rt: ResourceType, obj: dict, *, namespace: str, name: str | None) -> None:
    """apiVersion/kind/namespace/name of a request body must agree with its URL (400 otherwise)."""
    if not isinstance(obj, dict):
        raise errors.bad_request("the request body must be a JSON object")
    if obj.get("kind", rt.kind) != rt.kind or obj.get("apiVersion", rt.api_version) != rt.api_version:
        raise errors.bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                                 f"expected API version ({rt.api_version}) or kind ({obj.get('kind')}) "
                                 f"is not {rt.kind}")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    if rt.namespaced:
        if meta.get("namespace", namespace) != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if name is not None and meta.get("name", name) != name:
        raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                                 f"the URL ({name})")
    if name is not None:
        meta["name"] = name


# -- create / update rules --------------------------------------------------------------------

def prepare_create(rt: ResourceType, obj: dict, *, timestamp: str) -> None:
    meta = obj["metadata"]
    for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generation"):
        meta.pop(key, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = timestamp
    if rt.tracks_generation:
        meta["generation"] = 1
    if rt.has_status:
        obj.pop("status", None)
    if rt.plural == "namespaces":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif rt.plural == "pods":
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def prepare_update(rt: ResourceType, old: dict, new: dict, *, subresource: str) -> dict:
    """The object an update stores: server-owned metadata kept, status split by subresource."""
    if subresource == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        return result
    result = new
    for key in SERVER_METADATA:
        if key in old["metadata"]:
            result["metadata"][key] = old["metadata"][key]
        else:
            result["metadata"].pop(key, None)
    if rt.has_status:
        if "status" in old:
            result["status"] = copy.deepcopy(old["status"])
        else:
            result.pop("status", None)
    if rt.plural == "namespaces":
        result["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = result["metadata"]["name"]
    return result


def content(obj: dict) -> dict:
    """Everything generation tracks: the object minus metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def bump_generation(rt: ResourceType, old: dict, new: dict) -> None:
    if rt.tracks_generation and content(old) != content(new):
        new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
