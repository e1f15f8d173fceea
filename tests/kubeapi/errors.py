"""Failures shaped exactly as the real API server sends them: `metav1.Status` bodies.

Clients branch on `code` and `reason` (the python client raises `ApiException` carrying the
body, kubectl prints `message`), so every failure the test server produces is one exception
type that renders itself as a Status. Messages follow the apiserver's wording so tests and
the product see what a real cluster would say.

    ApiError(code, reason, message, details)
     ├─ not_found 404, already_exists 409, conflict 409, apply_conflict 409, expired 410
     ├─ invalid 422 (causes built from FieldError, formatted like k8s field.Error)
     └─ bad_request 400, unauthorized 401, forbidden 403, not_found_path 404,
        method_not_allowed 405, unsupported_media_type 415, internal 500
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MODIFIED_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)

# k8s field.ErrorType -> (cause reason, words used in the message)
FIELD_ERROR_TYPES = {
    "Required": ("FieldValueRequired", "Required value"),
    "Invalid": ("FieldValueInvalid", "Invalid value"),
    "TypeInvalid": ("FieldValueTypeInvalid", "Invalid value"),
    "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
    "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
    "Forbidden": ("FieldValueForbidden", "Forbidden"),
    "TooLong": ("FieldValueTooLong", "Too long"),
    "TooMany": ("FieldValueTooMany", "Too many"),
}
_NO_VALUE_TYPES = {"Required", "Forbidden", "TooLong"}
_MISSING = object()


class GoText(str):
    """A field error value already rendered as kube-apiserver prints it (e.g. `null` for a nil
    slice, a Go struct dump)."""


def go_value(value: Any) -> str:
    """Render a value as Go's `%v`/`%q` does in field errors (strings quoted)."""
    if isinstance(value, GoText):
        return str(value)
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class FieldError:
    """One entry of a 422 Invalid: the field path, the error type and its detail."""

    field: str
    type: str
    detail: str = ""
    value: Any = _MISSING

    @property
    def reason(self) -> str:
        return FIELD_ERROR_TYPES[self.type][0]

    @property
    def body(self) -> str:
        words = FIELD_ERROR_TYPES[self.type][1]
        text = words
        if self.type not in _NO_VALUE_TYPES and self.value is not _MISSING:
            text = f"{words}: {go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body}" if self.field else self.body


class ApiError(Exception):
    """An error response; `status()` is the JSON body the server sends."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:  # kube-apiserver leaves it out (e.g. a failed typed apply patch)
            del body["reason"]
        if self.details is not None:
            body["details"] = self.details
        return body


def _resource(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def _details(name: str, group: str, kind: str, **extra: Any) -> dict:
    details = {"name": name, "group": group, "kind": kind} if name else {"group": group, "kind": kind}
    if not group:
        details.pop("group")
    details.update(extra)
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_resource(plural, group)} "{name}" not found',
                    _details(name, group, plural))


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_resource(plural, group)} "{name}" already exists',
                    _details(name, group, plural))


def conflict(plural: str, group: str, name: str, why: str = MODIFIED_MESSAGE) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {_resource(plural, group)} "{name}": {why}',
                    _details(name, group, plural))


def apply_conflict(message: str, causes: list[dict]) -> ApiError:
    return ApiError(409, "Conflict", message, {"causes": causes})


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    qualified = f"{kind}.{group}" if group else kind
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    causes = [{"reason": e.reason, "message": e.body, "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}',
                    _details(name, group, kind, causes=causes))


def typed_patch_failure(namespace: str, name: str, api_version: str, kind: str, fields: list[str]) -> ApiError:
    """Server-side apply of a configuration naming fields its schema does not declare: a 500
    without a reason, whatever fieldValidation says (structured-merge-diff's typed conversion)."""
    group, _, version = api_version.rpartition("/")
    problems = [f".{f}: field not declared in schema" for f in fields]
    text = problems[0] if len(problems) == 1 else "errors:\n  " + "\n  ".join(problems)
    return ApiError(500, "", f"failed to create typed patch object ({namespace}/{name}; {group}/{version}, "
                             f"Kind={kind}): {text}")


def strict_decoding(kind: str, version: str, fields: list[str]) -> ApiError:
    """fieldValidation=Strict refusing a create/update body with unknown fields."""
    unknown = ", ".join(f'unknown field "{f}"' for f in fields)
    return ApiError(400, "BadRequest", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                       f"strict decoding error: {unknown}")


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{_resource(plural, group)} "{name}" is forbidden: {why}',
                    _details(name, group, plural))


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(accepted)}")


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})
