"""Check a merged spec against `schemas/networkspec.schema.json`.

jsonschema finds the problems; this module says them the way a person fixing a
YAML file needs them: at the offending key or value, with the path as written in
that file, and in plain words (an unknown field names itself and, when the
schema knows a close spelling, suggests it).
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import Any, Callable, Iterator

import fastjsonschema

import schemas

from .errors import SpecError
from .loader import SourceMap


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator, validators  # imported only when a spec is invalid

    # JSON Schema counts 100.0 as an integer; a YAML user who wrote 100.0 meant something else.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    strict = validators.extend(Draft202012Validator, type_checker=checker)
    return strict(schemas.load_json("networkspec.schema.json"))


@lru_cache(maxsize=1)
def _quick_check() -> Callable[[Any], Any]:
    return fastjsonschema.compile(schemas.load_json("networkspec.schema.json"))


def schema_errors(data: Any, sources: SourceMap) -> list[SpecError]:
    """Every schema violation. A valid spec is confirmed by fastjsonschema's compiled
    check (~25x faster on large specs); only an invalid one pays for jsonschema,
    which lists all errors with their paths."""
    try:
        _quick_check()(data)
        if not _has_float(data):
            return []
    except fastjsonschema.JsonSchemaException:
        pass
    return [err for error in _validator().iter_errors(data) for err in _explain(error, sources)]


def _has_float(value: Any) -> bool:
    """The spec has no number fields: a float anywhere needs the strict check below."""
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _explain(error, sources: SourceMap) -> Iterator[SpecError]:
    path = tuple(error.absolute_path)
    validator, value = error.validator, error.instance
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for key in sorted(set(value) - set(allowed)):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
            yield sources.error(path + (key,), f"unknown field {key!r}{hint}", key=True)
    elif validator == "required":
        for key in error.validator_value:
            if not isinstance(value, dict) or key not in value:
                yield _at_parent(sources, path, key, "required field is missing")
    elif validator == "const":
        yield sources.error(path, f"must be {_show(error.validator_value)}, got {_show(value)}")
    elif validator == "enum":
        yield sources.error(path, f"{_show(value)} is not one of {', '.join(_show(o) for o in error.validator_value)}")
    elif validator == "type":
        yield sources.error(path, f"expected {_type_words(error.validator_value)}, got {_type_words(_json_type(value))}")
    elif validator in ("minimum", "maximum"):
        word = "at least" if validator == "minimum" else "at most"
        yield sources.error(path, f"must be {word} {error.validator_value}, got {value!r}")
    elif validator == "minItems":
        yield sources.error(path, f"needs at least {error.validator_value} item(s)")
    elif validator == "maxItems":
        yield sources.error(path, f"takes at most {error.validator_value} item(s)")
    elif validator == "uniqueItems":
        yield sources.error(path, "items must be unique")
    else:
        yield sources.error(path, error.message)


def _at_parent(sources: SourceMap, path: tuple, key: str, message: str):
    location, shown = sources.where(path)
    return SpecError(location, f"{shown}.{key}" if shown != "$" else key, message)


def _show(option: Any) -> str:
    """A value as the user wrote it in YAML: 'text', 5, true, null."""
    if isinstance(option, str):
        return repr(option)
    return json.dumps(option) if isinstance(option, (bool, type(None))) else str(option)


def _json_type(value: Any) -> str:
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
    if isinstance(value, list):
        return "array"
    return "object"


def _type_words(types: Any) -> str:
    words = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
             "number": "a number", "boolean": "true or false", "null": "nothing (null)"}
    if isinstance(types, str):
        types = [types]
    return " or ".join(words.get(t, t) for t in types)
