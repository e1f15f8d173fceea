"""Every failure of a Kubernetes API request, as values the callers can tell apart.

    ApiError                 base; .status (None: no HTTP answer), .reason
    ├── NotFound             404
    ├── Conflict             409: a stale resourceVersion, a failed precondition, a concurrent change
    │   └── ApplyConflict    409 from server-side apply: fields owned by another manager
    ├── AlreadyExists        409 on create
    ├── Expired              410: a watch or list from a compacted resourceVersion
    └── Unreachable          no HTTP answer (refused, reset, timed out, a cut stream)

Which ones are worth the same request again (`retryable`): 429, 5xx and no answer
always (`transient`). A 409 only when the request carried no precondition
(`unguarded`): server-side apply, merge patches and plain deletes may simply be
sent again, since the server decides on its current object; a resourceVersion-
guarded write may not, because only its caller can decide again on fresh data.
ApplyConflict never: another manager owns the fields until someone forces.
"""

from __future__ import annotations

import json
from typing import Any

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status, self.reason = status, reason


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class ApplyConflict(Conflict):
    """Server-side apply found fields owned by another manager."""


class AlreadyExists(ApiError):
    pass


class Expired(ApiError):
    pass


class Unreachable(ApiError):
    def __init__(self, message: str, *, status: int | None = None, reason: str = "", refused: bool = False):
        super().__init__(message, status=status, reason=reason)
        self.refused = refused  # the connection was refused: nothing listens there (yet)


def transient(error: ApiError) -> bool:
    """Worth sending again as it is: the server was unavailable or overloaded, or did not answer."""
    return isinstance(error, Unreachable) or error.status in TRANSIENT_STATUS


def retryable(error: ApiError, *, unguarded: bool = False) -> bool:
    """`transient`, or a 409 of a request that carried no precondition (see the module docstring)."""
    if transient(error):
        return True
    return unguarded and isinstance(error, (Conflict, AlreadyExists)) and not isinstance(error, ApplyConflict)


def from_status(status: int, body: Any, what: str, *, fallback: str = "") -> ApiError:
    """The error for an HTTP answer `status` with the server's `body` (a Status object, usually);
    `what` names the request ("SpiderIPPool p4"), `fallback` is the HTTP reason phrase."""
    message, reason = _server_message(body, fallback)
    if status == 404:
        return NotFound(f"{what}: not found", status=404, reason=reason or "NotFound")
    text = f"{what}: the API server answered {status} {reason or 'error'}: {message}"
    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(text, status=409, reason=reason)
        if "apply failed" in message.lower():
            return ApplyConflict(f"{what}: {message}", status=409, reason="Conflict")
        return Conflict(text, status=409, reason=reason or "Conflict")
    if status == 410:
        return Expired(text, status=410, reason=reason or "Expired")
    return ApiError(text, status=status, reason=reason)


def _server_message(body: Any, fallback: str) -> tuple[str, str]:
    """(message, reason) from a Status body; the raw text (cut to 300 characters) when it is not one."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if isinstance(body, str) and body.strip() else {}
    except ValueError:
        status = None
    if not isinstance(status, dict):
        return (str(body or fallback or "")).strip()[:300], fallback
    return str(status.get("message") or fallback), str(status.get("reason") or fallback)
