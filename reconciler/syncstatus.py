"""The NetworkSync object: what the cluster says about the last applies of one spec.

Pure: builds the NetworkSync (one per spec, named after it) and its status from an
apply's result and the previous status — revision, kstatus-style conditions
(Ready / Reconciling / Stalled with observedGeneration), the inventory of owned
objects, per-object results, drift, and the last 5 applies.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from .apply import ApplyResult
from .model import Object
from .plan import MISSING
from .render import MANAGED_BY, MANAGER, SPEC_LABEL

API_VERSION = "gitops.spidernet.io/v1alpha1"
KIND = "NetworkSync"
HISTORY = 5
MAX_RESULTS = 1000  # keep the object well under etcd's size limit on huge specs



def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def digest_revision(objects: list[Object]) -> str:
    body = json.dumps(objects, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def sync_object(spec_name: str, *, source_path: str, prune: bool, self_heal: bool,
                source: dict[str, str] | None = None) -> Object:
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": spec_name, "labels": {MANAGED_BY: MANAGER, SPEC_LABEL: spec_name}},
        "spec": {"source": dict(source) if source else {"path": source_path}, "prune": prune, "selfHeal": self_heal},
    }


def _condition(previous: list[Object], type_: str, status: str, reason: str, message: str, generation: int,
               at: str) -> Object:
    old = next((c for c in previous if c.get("type") == type_), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else at
    return {"type": type_, "status": status, "reason": reason, "message": message[:32000],
            "lastTransitionTime": since, "observedGeneration": generation}


def build_status(result: ApplyResult, *, revision: str, generation: int, previous: Object | None,
                 started: str, finished: str) -> Object:
    previous = previous or {}
    failed = [r for r in result.results if r.action in ("failed", "conflict")]
    drifted = [r for r in result.results if r.action == "drifted"]
    draining = [r for r in result.results if r.action == "draining"]
    going = [r for r in result.results if r.action == "terminating"]
    if result.error or failed:
        ready = ("False", "ApplyFailed", result.error or f"{len(failed)} object(s) failed: " +
                 "; ".join(f"{r.change.ref}: {r.message}" for r in failed[:5]))
    elif drifted:
        ready = ("False", "Drifted", f"{len(drifted)} object(s) changed in the cluster: " +
                 ", ".join(r.change.ref for r in drifted[:5]))
    elif going:
        ready = ("False", "Terminating", f"{len(going)} object(s) of the spec are being deleted; a later apply "
                 "re-creates them once gone: " + ", ".join(r.change.ref for r in going[:5]))
    elif draining:
        ready = ("True", "Draining", f"applied; {len(draining)} object(s) draining before deletion")
    else:
        ready = ("True", "Applied", f"applied revision {revision}")
    old = previous.get("conditions") or []
    # kstatus: Ready=False always comes with Reconciling=True (it will get there by itself: objects
    # being deleted are re-created by a later apply) or Stalled=True (it will not without a person:
    # a failed apply, drift left alone without selfHeal), so kstatus readers (Flux wait/healthChecks,
    # Helm 4 --wait, kubectl wait) never take a not-ready spec for Current.
    if result.error or failed:
        reconciling, stalled = ("False", "Idle", ""), ("True", "ApplyFailed", ready[2])
    elif drifted:
        reconciling, stalled = ("False", "Idle", ""), ("True", "Drifted", ready[2] + "; selfHeal is off")
    elif going:
        reconciling, stalled = ("True", "Terminating", ready[2]), ("False", "Progressing", "")
    else:
        reconciling, stalled = ("False", "Idle", ""), ("False", "Progressing", "")
    conditions = [
        _condition(old, "Ready", *ready, generation, finished),
        _condition(old, "Reconciling", *reconciling, generation, finished),
        _condition(old, "Stalled", *stalled, generation, finished),
    ]
    counts: dict[str, int] = {}
    for r in result.results:
        counts[r.action] = counts.get(r.action, 0) + 1
    outcome = "Failed" if failed or result.error else "Succeeded"
    entry = {"revision": revision, "startedAt": started, "finishedAt": finished, "result": outcome, "counts": counts}
    inventory = [_ref(r.change) for r in result.results if r.action not in ("deleted", "conflict")
                 and r.change.action != "orphan" and not (r.action == "skipped" and r.change.action == "create")]
    if result.refused:  # nothing was written: what the spec owns is what it owned before
        inventory = list(previous.get("inventory") or [])
    return {
        "observedGeneration": generation,
        "revision": revision,
        "lastAttemptedRevision": revision,
        "conditions": conditions,
        "inventory": inventory,
        "inventoryCount": len(inventory),
        "lastApply": {**{k: v for k, v in entry.items() if k != "counts"},
                      "objects": [_result(r) for r in result.results[:MAX_RESULTS]]},
        "history": ([entry] + list(previous.get("history") or []))[:HISTORY],
        "drift": [{"kind": r.change.kind, **({"namespace": r.change.namespace} if r.change.namespace else {}),
                   "name": r.change.name, "field": f.path, "desired": _plain(f.after), "live": _plain(f.before)}
                  for r in drifted for f in r.change.fields][:MAX_RESULTS],
    }


def plain(value: Any) -> Any:
    return None if value is MISSING else value


_plain = plain


def _ref(change) -> Object:
    group, _, version = change.api_version.rpartition("/")
    ref = {"group": group, "version": version, "kind": change.kind, "name": change.name}
    if change.namespace:
        ref["namespace"] = change.namespace
    return ref


def _result(r) -> Object:
    out = {"kind": r.change.kind, "name": r.change.name, "action": r.action}
    if r.change.namespace:
        out["namespace"] = r.change.namespace
    if r.message:
        out["message"] = r.message[:2000]
    return out


def is_noop(new: Object, previous: Object | None, *, wrote: bool) -> bool:
    """An apply that wrote nothing and whose outcome the recorded status already states:
    leave the NetworkSync alone, so a no-op apply makes no write at all. (`lastApply` and
    `history` then describe the last apply that did something.)"""
    if wrote or not previous:
        return False

    def essence(status: Object) -> tuple:
        conditions = [(c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                      for c in status.get("conditions") or []]
        return (status.get("revision"), status.get("observedGeneration"), conditions, status.get("inventory"),
                status.get("drift"))

    return essence(new) == essence(previous)


def stall_status(previous: Object | None, *, reason: str, message: str, attempted: str | None, generation: int,
                 at: str) -> Object:
    """The status fields (a merge patch) that say a revision was not applied and why: Ready
    False and Stalled True with `reason` and `message`, the attempted revision; `revision`,
    the inventory and the history keep describing what is applied."""
    old = (previous or {}).get("conditions") or []
    patch: Object = {
        "observedGeneration": generation,
        "conditions": [
            _condition(old, "Ready", "False", reason, message, generation, at),
            _condition(old, "Reconciling", "False", reason, "", generation, at),
            _condition(old, "Stalled", "True", reason, message, generation, at),
        ],
    }
    if attempted:
        patch["lastAttemptedRevision"] = attempted
    return patch


def stall_is_recorded(patch: Object, previous: Object | None) -> bool:
    """Whether `previous` already says what the stall patch would (so it need not be written)."""
    if not previous:
        return False

    def essence(conditions: list[Object]) -> list[tuple]:
        return [(c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in conditions or []]

    return (essence(patch["conditions"]) == essence(previous.get("conditions"))
            and patch.get("lastAttemptedRevision", previous.get("lastAttemptedRevision"))
            == previous.get("lastAttemptedRevision"))
