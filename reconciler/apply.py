"""Make a cluster match a spec: plan against it, then write in dependency order.

    live  = every object of the kinds we render (one LIST per kind)
    plan  = make_plan(rendered + digests, live)            (pure, see plan.py)
    every create/update is first sent as a server-side dry run
    refuse before any write: missing CRDs, conflicts without --adopt, objects the
                             server would reject, an empty spec that would prune everything
    write creates/updates in order  SpiderSubnet -> SpiderIPPool / SpiderReservedIP
                                    -> SpiderCoordinator -> NAD -> Calico IPPool
    prune in reverse order; a pool or subnet still holding IPs is disabled and
    reported as draining instead, and deleted by a later apply once empty.

Writes are server-side apply with one field manager, so re-running after a crash
converges with nothing duplicated; unchanged objects are not written at all.
"""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby

from .kube import ApplyConflict, Cluster, ClusterError
from .model import Object
from .plan import Change, Plan, identity, make_plan, with_digest
from .render import KIND_ORDER, MANAGED_BY, MANAGER, SPEC_LABEL

CALICO_APIS = ("projectcalico.org/v3", "crd.projectcalico.org/v1")
SPIDER_API = "spiderpool.spidernet.io/v2beta1"
PRUNABLE_KINDS = [(SPIDER_API, "SpiderSubnet"), (SPIDER_API, "SpiderIPPool"), (SPIDER_API, "SpiderReservedIP"),
                  (SPIDER_API, "SpiderCoordinator"), ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")] + \
                 [(api, "IPPool") for api in CALICO_APIS]


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    adopt: bool = False
    allow_empty: bool = False
    self_heal: bool = False
    prune: bool = True
    concurrency: int = 8


@dataclass
class ObjectResult:
    change: Change
    action: str  # created|updated|unchanged|deleted|draining|drifted|conflict|failed
    message: str = ""


@dataclass
class ApplyResult:
    plan: Plan
    results: list[ObjectResult] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(r.action not in ("failed", "conflict") for r in self.results)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)


REFUSALS = {400, 403, 409, 422}  # what a dry run answers when the server would not take the object


class ApplyRefused(ClusterError):
    """Apply stopped before writing anything; the message says why."""


def live_objects(cluster: Cluster, desired: list[Object], spec_name: str) -> list[Object]:
    """Objects of every kind we render (to see conflicts) and our owned leftovers (to prune)."""
    wanted_kinds = {(o["apiVersion"], o["kind"]) for o in desired}
    live: list[Object] = []
    for api_version, kind in dict.fromkeys(list(wanted_kinds) + PRUNABLE_KINDS):
        if (api_version, kind) not in wanted_kinds and not cluster.serves(api_version, kind):
            continue  # nothing of ours can exist in a kind the cluster does not serve
        if (api_version, kind) in wanted_kinds:
            live += cluster.list(api_version, kind)
        else:
            live += cluster.list(api_version, kind, label_selector=f"{MANAGED_BY}={MANAGER},{SPEC_LABEL}={spec_name}")
    return live


def plan_live(cluster: Cluster, rendered: list[Object], *, spec_name: str, prune: bool,
              concurrency: int = 8) -> tuple[Plan, list[Object]]:
    desired = [with_digest(o) for o in rendered]
    missing = [f"{kind} ({api})" for api, kind in dict.fromkeys((o["apiVersion"], o["kind"]) for o in desired)
               if not cluster.serves(api, kind)]
    if missing:
        raise ApplyRefused("the cluster does not serve " + ", ".join(missing) +
                           "; install the CRDs first (spiderpool install-crds)", reason="NoKind")
    live = live_objects(cluster, desired, spec_name)
    plan = make_plan(desired, live, spec_name=spec_name, prune=prune)
    _verify_with_dry_run(cluster, plan, desired, concurrency=concurrency)
    return plan, live


def _verify_with_dry_run(cluster: Cluster, plan: Plan, desired: list[Object], *, concurrency: int) -> None:
    """Send every create/update as a server-side dry run: what the server (its schemas, its
    webhooks) would refuse shows in the plan as `rejected`, before anything is written."""
    by_id = {identity(o): o for o in desired}
    pending = [i for i, c in enumerate(plan.changes) if c.action in ("create", "update", "drift")]

    def check(index: int) -> tuple[int, str]:
        try:
            cluster.apply(by_id[plan.changes[index].key], force=True, dry_run=True)
            return index, ""
        except ClusterError as exc:
            if exc.status in REFUSALS:
                return index, str(exc)
            raise  # the server failing (5xx, unreachable) is not a verdict on the object

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for index, problem in pool.map(check, pending):
            if problem:
                plan.changes[index] = dataclasses.replace(plan.changes[index], action="rejected", reason=problem)


def apply(cluster: Cluster, rendered: list[Object], *, spec_name: str, options: ApplyOptions) -> ApplyResult:
    plan, live = plan_live(cluster, rendered, spec_name=spec_name, prune=options.prune,
                           concurrency=options.concurrency)
    rejected = [c for c in plan.changes if c.action == "rejected"]
    if rejected:
        raise ApplyRefused(f"the API server would refuse {len(rejected)} object(s); nothing was applied: " +
                           "; ".join(c.reason for c in rejected[:3]) + (" ..." if len(rejected) > 3 else ""),
                           reason="Invalid")
    owned_live = [o for o in live if (o.get("metadata", {}).get("labels") or {}).get(SPEC_LABEL) == spec_name]
    if not rendered and owned_live and options.prune and not options.allow_empty:
        raise ApplyRefused(f"the spec renders no objects: applying it would delete all {len(owned_live)} objects "
                           "it owns; pass --allow-empty if that is what you want", reason="EmptySpec")
    conflicts = plan.conflicts
    if conflicts and not options.adopt:
        refs = ", ".join(c.ref for c in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise ApplyRefused(f"{len(conflicts)} object(s) exist that this spec does not own: {refs}; nothing was "
                           "applied (use --adopt to take them over)", reason="Conflict")
    desired = {identity(o): o for o in (with_digest(r) for r in rendered)}
    live_by_id = {identity(o): o for o in live}
    result = ApplyResult(plan)

    def carry_out(change: Change) -> ObjectResult:
        return _carry_out(cluster, change, desired.get(change.key), live_by_id.get(change.key), options)

    # One dependency level at a time (all subnets before any pool, ...); inside a level the
    # writes are independent, so they go out concurrently: on a real cluster a write is a
    # network round trip, and 2,000 of them in a row take minutes.
    ordered = sorted(plan.changes, key=_write_order)
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        for _, level in groupby(ordered, key=lambda c: _write_order(c)[:2]):
            result.results += list(pool.map(carry_out, level))
    return result


def _write_order(change: Change) -> tuple:
    rank = KIND_ORDER.index(change.kind) if change.kind in KIND_ORDER else len(KIND_ORDER)
    deleting = change.action in ("delete", "orphan")
    return (1 if deleting else 0, -rank if deleting else rank, change.namespace or "", change.name)


def _carry_out(cluster: Cluster, change: Change, desired: Object | None, live: Object | None,
               options: ApplyOptions) -> ObjectResult:
    try:
        if change.action in ("create", "update", "conflict") or (change.action == "drift" and options.self_heal):
            cluster.apply(desired, force=True, dry_run=options.dry_run)
            done = {"create": "created", "conflict": "updated"}.get(change.action, "updated")
            note = "adopted" if change.action == "conflict" else ("drift reverted" if change.action == "drift" else "")
            return ObjectResult(change, done, note)
        if change.action == "drift":
            return ObjectResult(change, "drifted", "changed in the cluster: " +
                                ", ".join(f.path for f in change.fields) + " (not reverted: self-heal is off)")
        if change.action == "delete":
            return _prune(cluster, change, live, options)
        if change.action == "orphan":
            return ObjectResult(change, "unchanged", change.reason)
        return ObjectResult(change, "unchanged")
    except ApplyConflict as exc:
        return ObjectResult(change, "conflict", str(exc))
    except ClusterError as exc:
        return ObjectResult(change, "failed", str(exc))


def allocated_ips(obj: Object) -> int:
    """How many IPs a live pool (or subnet) still has handed out, by upstream's status fields."""
    status = obj.get("status") or {}
    count = status.get("allocatedIPCount") or 0
    if not count and obj["kind"] == "SpiderIPPool" and status.get("allocatedIPs"):
        try:
            count = len(json.loads(status["allocatedIPs"]))
        except (TypeError, ValueError):
            count = 1  # unreadable allocations: treat as in use, never delete
    return int(count)


def _prune(cluster: Cluster, change: Change, live: Object | None, options: ApplyOptions) -> ObjectResult:
    if live is not None and change.kind in ("SpiderIPPool", "SpiderSubnet"):
        in_use = allocated_ips(live)
        if in_use:
            if change.kind == "SpiderIPPool" and not (live.get("spec") or {}).get("disable"):
                cluster.merge_patch(live, {"spec": {"disable": True}}, dry_run=options.dry_run)
            return ObjectResult(change, "draining", f"{in_use} IP(s) still allocated: disabled, deleted by a later "
                                                    "apply once empty")
    cluster.delete(live or {"apiVersion": change.api_version, "kind": change.kind,
                            "metadata": {"name": change.name, "namespace": change.namespace}},
                   dry_run=options.dry_run)
    return ObjectResult(change, "deleted")
