"""Kubernetes protobuf request bodies, decoded for the built-in kinds typed clients send.

Responses are always JSON (every client accepts it), but some clients *send* protobuf:
helm 3.17 and 4.1 store releases as Secrets through a protobuf clientset, and kubectl 1.33's
generators (`kubectl create namespace|configmap|secret|serviceaccount`) do the same. A body
is the `k8s\\0` magic plus a `runtime.Unknown` envelope (apiVersion, kind, raw message); the raw
message is decoded with the field numbers of k8s.io/api's generated.proto for the kinds below
and then treated exactly like the JSON it stands for. Other kinds answer 415.

Go marshals non-pointer fields even when empty, so empty strings, zero integers and the zero
time are dropped, as `omitempty` would in JSON.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

from . import errors

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ZERO_TIME = -62135596800  # Go's time.Time{} in Unix seconds

# message schemas: field number -> (json name, type); type is a scalar name, a schema dict,
# ("repeated", type) or ("map", value type) (map keys are always strings here)
TIME = "time"
TYPE_META = {1: ("apiVersion", "string"), 2: ("kind", "string")}
UNKNOWN = {1: ("typeMeta", TYPE_META), 2: ("raw", "raw"), 3: ("contentEncoding", "string"),
           4: ("contentType", "string")}
OWNER_REFERENCE = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
                   6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
MANAGED_FIELDS = {1: ("manager", "string"), 2: ("operation", "string"), 3: ("apiVersion", "string"),
                  4: ("time", TIME), 6: ("fieldsType", "string"), 7: ("fieldsV1", "fieldsv1"),
                  8: ("subresource", "string")}
OBJECT_META = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
               4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
               7: ("generation", "int"), 8: ("creationTimestamp", TIME), 9: ("deletionTimestamp", TIME),
               10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", ("map", "string")),
               12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("repeated", OWNER_REFERENCE)),
               14: ("finalizers", ("repeated", "string")), 17: ("managedFields", ("repeated", MANAGED_FIELDS))}
OBJECT_REFERENCE = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                    5: ("apiVersion", "string"), 6: ("resourceVersion", "string"), 7: ("fieldPath", "string")}
KINDS = {
    ("v1", "Secret"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
                       4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    ("v1", "ConfigMap"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "string")),
                          3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
                          3: ("status", {1: ("phase", "string")})},
    ("v1", "ServiceAccount"): {1: ("metadata", OBJECT_META), 2: ("secrets", ("repeated", OBJECT_REFERENCE)),
                               3: ("imagePullSecrets", ("repeated", {1: ("name", "string")})),
                               4: ("automountServiceAccountToken", "bool")},
    ("v1", "DeleteOptions"): {1: ("gracePeriodSeconds", "int"),
                              2: ("preconditions", {1: ("uid", "string"), 2: ("resourceVersion", "string")}),
                              3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"),
                              5: ("dryRun", ("repeated", "string"))},
}
KINDS[("meta.k8s.io/v1", "DeleteOptions")] = KINDS[("v1", "DeleteOptions")]


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";")[0].strip() == CONTENT_TYPE


def decode(body: bytes) -> dict:
    """The JSON-equivalent object of a protobuf request body; 415 for kinds not known here."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body does not start with the k8s magic prefix")
    try:
        envelope = _message(body[len(MAGIC):], UNKNOWN)
        meta = envelope.get("typeMeta", {})
        api_version, kind = meta.get("apiVersion", ""), meta.get("kind", "")
        schema = KINDS.get((api_version, kind))
        if schema is None:
            raise errors.unsupported_media_type(CONTENT_TYPE, ["application/json", "application/yaml"])
        obj = _message(envelope.get("raw", b""), schema)
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"unable to decode protobuf body: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj} if kind != "DeleteOptions" else obj


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _fields(data: bytes):
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, value


def _message(data: bytes, schema: dict) -> dict:
    out: dict = {}
    for number, raw in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_scalar(raw, kind[1]))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = dict(_fields(raw))
            out.setdefault(name, {})[entry.get(1, b"").decode()] = _scalar(entry.get(2, b""), kind[1])
        else:
            out[name] = _scalar(raw, kind)
    return {k: v for k, v in out.items() if v not in ("", None) and not (k == "generation" and v == 0)}


def _scalar(raw, kind):
    if isinstance(kind, dict):
        return _message(raw, kind)
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "raw":
        return raw
    if kind == "int":
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind == "bool":
        return bool(raw)
    if kind == "fieldsv1":
        inner = dict(_fields(raw)).get(1, b"{}")
        return json.loads(inner)
    if kind == TIME:
        parts = dict(_fields(raw))
        seconds = parts.get(1, 0)
        seconds = seconds - (1 << 64) if seconds >= 1 << 63 else seconds
        if seconds == _ZERO_TIME or not parts:
            return None
        return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise ValueError(f"unknown protobuf field kind {kind!r}")
