"""Custom objects checked against their CRD version's `openAPIV3Schema`, as the apiserver does.

For every write of a custom resource the real server prunes unknown fields, applies schema
defaults and validates; a violation is a 422 whose causes name the field. This module does
the same three steps, with the apiserver's order and wording:

  prune    drop fields the schema does not declare (kept under
           `x-kubernetes-preserve-unknown-fields` / `additionalProperties`); `null` for a
           non-nullable field without a default is dropped too. Returns the dropped paths,
           which become `fieldValidation` warnings or a Strict 400.
  default  fill `default`s where the parent object exists (never inventing parents).
  validate type, required, enum, minimum/maximum (+exclusive), multipleOf, min/maxLength,
           pattern, min/maxItems, min/maxProperties, formats (cidr, ipv4/6,
           date-time, uuid, mac, hostname, byte), list-type set/map uniqueness,
           `x-kubernetes-int-or-string`, allOf/anyOf/oneOf/not, `nullable`.

Not evaluated: CEL `x-kubernetes-validations` (ignored; see README.md next to this module).
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
import uuid
from datetime import datetime
from typing import Any

from .errors import FieldError
from .fieldpaths import canonical

ROOT_META = ("apiVersion", "kind", "metadata")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- pruning ------------------------------------------------------------------------------------

def prune(obj: dict, schema: dict) -> list[str]:
    """Remove undeclared fields in place; returns their paths (`spec.foo`)."""
    dropped: list[str] = []
    _prune(obj, schema, "", dropped, root=True)
    return dropped


def _prune(value: Any, schema: dict, path: str, dropped: list, *, root: bool = False) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        embedded = root or schema.get("x-kubernetes-embedded-resource")
        for key in list(value):
            if embedded and key in ROOT_META:
                continue
            child_schema = props.get(key, extra if isinstance(extra, dict) else None)
            if child_schema is None:
                if not keep_unknown:
                    del value[key]
                    dropped.append(_join(path, key))
                continue
            if value[key] is None and not child_schema.get("nullable") and "default" not in child_schema:
                del value[key]
                continue
            _prune(value[key], child_schema, _join(path, key), dropped)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{i}]", dropped)


# -- defaulting ---------------------------------------------------------------------------------

def apply_defaults(value: Any, schema: dict) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, child in props.items():
            if "default" in child and (key not in value or (value[key] is None and not child.get("nullable"))):
                value[key] = copy.deepcopy(child["default"])
        extra = schema.get("additionalProperties")
        for key, child_value in value.items():
            child = props.get(key, extra if isinstance(extra, dict) else None)
            if child is not None:
                apply_defaults(child_value, child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])


# -- validation ---------------------------------------------------------------------------------

def validate(obj: dict, schema: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    _validate(obj, schema, "", errs, root=True)
    return errs


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_ok(value: Any, schema: dict) -> bool:
    wanted = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    if value is None:
        return bool(schema.get("nullable")) or not wanted
    if not wanted:
        return True
    actual = _type_name(value)
    if wanted == "number":
        return actual in ("integer", "number")
    if wanted == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == wanted


def _validate(value: Any, schema: dict, path: str, errs: list, *, root: bool = False) -> None:
    where = path or "<root>"
    if not _type_ok(value, schema):
        wanted = "string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        errs.append(FieldError(path, "TypeInvalid", f"{where} in body must be of type {wanted}: "
                                                    f'"{_type_name(value)}"', _type_name(value)))
        return
    if value is None:
        return
    _combinators(value, schema, path, errs)
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(f'"{_plain(v)}"' for v in schema["enum"])
        errs.append(FieldError(path, "NotSupported", f"supported values: {supported}", value))
    if isinstance(value, dict):
        _validate_object(value, schema, path, errs, root=root)
    elif isinstance(value, list):
        _validate_array(value, schema, path, errs)
    elif isinstance(value, str):
        _validate_string(value, schema, path, errs)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(value, schema, path, errs)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, (dict, list)) else canonical(value)


def _combinators(value: Any, schema: dict, path: str, errs: list) -> None:
    where = path or "<root>"
    for sub in schema.get("allOf") or []:
        _validate(value, sub, path, errs)
    if schema.get("anyOf"):
        results = [_sub_errors(value, sub, path) for sub in schema["anyOf"]]
        if all(results):
            errs.extend(results[0])
            errs.append(FieldError(path, "Invalid", f'"{where}" must validate at least one schema (anyOf)', value))
    if schema.get("oneOf"):
        passing = sum(1 for sub in schema["oneOf"] if not _sub_errors(value, sub, path))
        if passing != 1:
            errs.append(FieldError(path, "Invalid", f'"{where}" must validate one and only one schema (oneOf)', value))
    if isinstance(schema.get("not"), dict) and not _sub_errors(value, schema["not"], path):
        errs.append(FieldError(path, "Invalid", f'"{where}" must not validate the schema (not)', value))


def _sub_errors(value: Any, schema: dict, path: str) -> list:
    found: list = []
    _validate(value, schema, path, found)
    return found


def _validate_object(value: dict, schema: dict, path: str, errs: list, *, root: bool) -> None:
    where = path or "<root>"
    for name in schema.get("required") or []:
        if name not in value or value[name] is None:
            errs.append(FieldError(_join(path, name), "Required"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errs.append(FieldError(path, "Invalid", f"{where} in body should have at least "
                                                f"{schema['minProperties']} properties", len(value)))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errs.append(FieldError(path, "TooMany", f"must have at most {schema['maxProperties']} items", len(value)))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, child in value.items():
        if (root or schema.get("x-kubernetes-embedded-resource")) and key in ROOT_META:
            continue
        child_schema = props.get(key, extra if isinstance(extra, dict) else None)
        if child_schema is not None:
            _validate(child, child_schema, _join(path, key), errs)


def _validate_array(value: list, schema: dict, path: str, errs: list) -> None:
    where = path or "<root>"
    if "minItems" in schema and len(value) < schema["minItems"]:
        errs.append(FieldError(path, "Invalid", f"{where} in body should have at least "
                                                f"{schema['minItems']} items", len(value)))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errs.append(FieldError(path, "TooMany", f"must have at most {schema['maxItems']} items", len(value)))
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _validate(item, items, f"{path}[{i}]", errs)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type in ("set", "map") or schema.get("uniqueItems"):
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: set[str] = set()
        for i, item in enumerate(value):
            ident = {k: item.get(k) for k in keys} if list_type == "map" and isinstance(item, dict) else item
            text = canonical(ident)
            if text in seen:
                errs.append(FieldError(f"{path}[{i}]", "Duplicate", "", ident))
            seen.add(text)


def _validate_string(value: str, schema: dict, path: str, errs: list) -> None:
    where = path or "<root>"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errs.append(FieldError(path, "TooLong", f"may not be more than {schema['maxLength']} bytes"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        errs.append(FieldError(path, "Invalid", f"{where} in body should be at least "
                                                f"{schema['minLength']} chars long", value))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errs.append(FieldError(path, "Invalid", f"{where} in body should match '{schema['pattern']}'", value))
    fmt = schema.get("format")
    if fmt in FORMATS and not FORMATS[fmt](value):
        errs.append(FieldError(path, "Invalid", f'{where} in body must be of type {fmt}: "{value}"', value))


def _validate_number(value: float, schema: dict, path: str, errs: list) -> None:
    where = path or "<root>"
    if "minimum" in schema:
        low, exclusive = schema["minimum"], schema.get("exclusiveMinimum") is True
        if value < low or (exclusive and value == low):
            words = "greater than" if exclusive else "greater than or equal to"
            errs.append(FieldError(path, "Invalid", f"{where} in body should be {words} {_plain(low)}", value))
    if "maximum" in schema:
        high, exclusive = schema["maximum"], schema.get("exclusiveMaximum") is True
        if value > high or (exclusive and value == high):
            words = "less than" if exclusive else "less than or equal to"
            errs.append(FieldError(path, "Invalid", f"{where} in body should be {words} {_plain(high)}", value))
    step = schema.get("multipleOf")
    if step and (value / step) != int(value / step):
        errs.append(FieldError(path, "Invalid", f"{where} in body should be a multiple of {_plain(step)}", value))


def _ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version
    except ValueError:
        return False


def _cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
        return "/" in value
    except ValueError:
        return False


def _datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return "T" in value or "t" in value
    except ValueError:
        return False


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def _byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
        return True
    except ValueError:
        return False


FORMATS = {
    "cidr": _cidr,
    "ipv4": lambda v: _ip(v, 4),
    "ipv6": lambda v: _ip(v, 6),
    "date-time": _datetime,
    "uuid": _uuid,
    "byte": _byte,
    "mac": lambda v: re.fullmatch(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}", v) is not None,
    "hostname": lambda v: re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
                                       r"(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*", v) is not None,
}
