"""Make a cluster match a spec: plan against it, then write in dependency order.

    live  = every object of the kinds we render (one LIST per kind)
    plan  = make_plan(rendered + digests, live)            (pure, see plan.py)
    every create/update is first sent as a server-side dry run
    refuse before any write: missing CRDs, conflicts without --adopt, objects the
                             server would reject, an empty spec that would prune everything,
                             a change that would strand allocated IPs (reconciler.inuse)
    write creates/updates in order  SpiderSubnet -> SpiderIPPool / SpiderReservedIP
                                    -> SpiderCoordinator -> NAD -> Calico IPPool
    prune in reverse order; a pool or subnet still holding IPs is disabled and
    reported as draining instead, and deleted by a later apply once empty; the
    decision is taken on a fresh read and the delete is guarded (reconciler.retire).
    an object of the spec that someone is deleting (Terminating) is left alone and
    reported; a later apply re-creates it once it is gone.
    last, the count columns of the spec's pools and subnets (reconciler.counts)

Writes are server-side apply with the spec's own field manager, ownership checked
again at write time (reconciler.ownership), so re-running after a crash converges
with nothing duplicated, and of two applies racing for one object exactly one gets
it; unchanged objects are not written at all.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from typing import Callable

from cni.allocation.retirement import RETIRED_KINDS, terminating
from kubeclient.errors import transient

from . import ownership
from .counts import refresh_counts
from .autopoolguard import guard as guard_auto_pools
from .kube import ApplyConflict, Cluster, ClusterError, Conflict
from .model import Object
from .plan import Change, Plan, field_manager, identity, make_plan, with_digest
from .render import KIND_ORDER, MANAGED_BY, MANAGER, SPEC_LABEL
from .retire import allocated_ips, retire  # noqa: F401  (allocated_ips: part of this module's interface)

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
    action: str  # created|updated|unchanged|deleted|draining|terminating|drifted|conflict|failed|skipped
    message: str = ""
    transient: bool = False  # failed because the server did not answer, or answered 5xx/429 (the outage kind)


@dataclass
class ApplyResult:
    plan: Plan
    results: list[ObjectResult] = field(default_factory=list)
    error: str = ""
    refused: bool = False  # stopped before writing (ApplyRefused): the objects are as they were
    warnings: list[str] = field(default_factory=list)  # not failures: e.g. count columns left to the controller
    outage: bool = False  # stopped because the API server went away (its retry budget is spent)

    @property
    def ok(self) -> bool:
        return not self.error and all(r.action not in ("failed", "conflict") for r in self.results)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    def tally(self) -> str:
        """"3 written, 1 failed, 120 not attempted": what an interrupted run did and did not do."""
        written = sum(1 for r in self.results if r.action in WRITTEN)
        failed = self.count("failed") + self.count("conflict")
        return f"{written} written, {failed} failed, {self.count('skipped')} not attempted"


WRITTEN = frozenset({"created", "updated", "deleted", "draining"})


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
    missing = [(api, kind) for api, kind in dict.fromkeys((o["apiVersion"], o["kind"]) for o in desired)
               if not cluster.serves(api, kind)]
    if missing:
        raise ApplyRefused(missing_kinds_message(missing), reason="NoKind")
    live = live_objects(cluster, desired, spec_name)
    plan = make_plan(desired, live, spec_name=spec_name, prune=prune)
    _mark_drains(plan, live)
    guard_auto_pools(plan, desired, live)
    _verify_with_dry_run(cluster, plan, desired, concurrency=concurrency, live=live)
    return plan, live


def missing_kinds_message(missing: list[tuple[str, str]]) -> str:
    """What to install for kinds the cluster does not serve: ours come with `spiderpool
    install-crds`; Calico's IPPool only with Calico itself."""
    ours = [f"{kind} ({api})" for api, kind in missing if api not in CALICO_APIS]
    calico = [f"{kind} ({api})" for api, kind in missing if api in CALICO_APIS]
    parts = []
    if ours:
        parts.append("the cluster does not serve " + ", ".join(ours) + "; install the CRDs first "
                     "(spiderpool install-crds)")
    if calico:
        parts.append("the cluster does not serve Calico's " + ", ".join(calico) + ", which the spec's calico "
                     "pools need; install Calico (its CRDs) first -- spiderpool install-crds does not install it")
    return "; ".join(parts)


def _mark_drains(plan: Plan, live: list[Object]) -> None:
    """A pool or subnet to be pruned that still has IPs handed out is drained, not deleted (as
    `retire` will decide again on a fresh read): say so in the plan."""
    by_id = {identity(o): o for o in live}
    for index, change in enumerate(plan.changes):
        obj = by_id.get(change.key)
        # a subnet's allocatedIPCount counts IPs handed to pools, not to pods: retire decides on its pools
        if change.action == "delete" and change.kind == "SpiderIPPool" and obj is not None and allocated_ips(obj):
            plan.changes[index] = dataclasses.replace(
                change, drain=True, reason=f"{allocated_ips(obj)} IP(s) still allocated: disabled now, deleted by a "
                                           "later apply once they are released")


def _verify_with_dry_run(cluster: Cluster, plan: Plan, desired: list[Object], *, concurrency: int,
                         live: list[Object] = ()) -> None:
    """Send every create/update as a server-side dry run: what the server (its schemas, its
    webhooks) would refuse shows in the plan as `rejected`, before anything is written.
    Objects being deleted are not written (see `_carry_out`), so not checked either."""
    by_id = {identity(o): o for o in desired}
    going = {identity(o) for o in live if terminating(o)}
    pending = [i for i, c in enumerate(plan.changes) if c.action in ("create", "update", "drift")
               and c.key not in going]

    def check(index: int) -> tuple[int, str, bool]:
        try:
            cluster.apply(by_id[plan.changes[index].key], force=True, dry_run=True,
                          manager=field_manager(plan.spec_name))
            return index, "", False
        except Conflict as exc:
            return index, str(exc), True  # the object kept changing: not a verdict on what we send
        except ClusterError as exc:
            if exc.status in REFUSALS:
                return index, str(exc), False
            raise  # the server failing (5xx, unreachable) is not a verdict on the object

    conflicting = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for index, problem, conflict in pool.map(check, pending):
            if conflict:
                conflicting.append(problem)
            elif problem:
                plan.changes[index] = dataclasses.replace(plan.changes[index], action="rejected", reason=problem)
    if conflicting:
        raise ApplyRefused(f"the API server kept answering 409 Conflict to the dry run of {len(conflicting)} "
                           "object(s) until the retry budget ran out (they are being changed by someone else); "
                           "nothing was applied: " + "; ".join(conflicting[:3]) +
                           (" ..." if len(conflicting) > 3 else ""), reason="Conflict")


def apply(cluster: Cluster, rendered: list[Object], *, spec_name: str, options: ApplyOptions,
          on_result: Callable[[ObjectResult], None] = lambda result: None) -> ApplyResult:
    """`on_result` hears of each object as soon as it and every object before it in the write
    order are done (in that order, so the stream is deterministic), from this thread."""
    cluster.start_run()  # one retry budget for the whole apply, shared by all objects and levels
    plan, live = plan_live(cluster, rendered, spec_name=spec_name, prune=options.prune,
                           concurrency=options.concurrency)
    if plan.refused:
        raise ApplyRefused(f"{len(plan.refused)} change(s) refused; nothing was applied: " +
                           "; ".join(f"{c.ref}: {c.reason}" for c in plan.refused[:3]) +
                           (" ..." if len(plan.refused) > 3 else ""), reason="Refused")
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
        refs = ", ".join(f"{c.ref} ({c.reason})" for c in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise ApplyRefused(f"{len(conflicts)} object(s) exist that this spec does not own: {refs}; nothing was "
                           "applied (use --adopt to take them over)", reason="Conflict")
    desired = {identity(o): o for o in (with_digest(r) for r in rendered)}
    live_by_id = {identity(o): o for o in live}
    result = ApplyResult(plan)

    def carry_out(change: Change) -> ObjectResult:
        return _carry_out(cluster, change, desired.get(change.key), live_by_id.get(change.key), options, spec_name)

    # One dependency level at a time (all subnets before any pool, ...); inside a level the
    # writes are independent, so they go out concurrently: on a real cluster a write is a
    # network round trip, and 2,000 of them in a row take minutes.
    # A failure stops the run at its level: later levels depend on this one (pools on their
    # subnet, NADs on their pools) and prune must not run on a half-written spec. A failure of
    # the server itself (no answer, 5xx, after the run's one retry budget) also stops the rest
    # of its own level: each would only wait out the same outage again.
    ordered = sorted(plan.changes, key=_write_order)
    server_gone = threading.Event()

    def guarded(change: Change) -> ObjectResult:
        if server_gone.is_set():
            return ObjectResult(change, "skipped", NOT_ATTEMPTED)
        outcome = carry_out(change)
        if outcome.action == "failed" and outcome.transient:
            server_gone.set()
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        levels = [list(level) for _, level in groupby(ordered, key=lambda c: _write_order(c)[:2])]
        for index, level in enumerate(levels):
            for outcome in pool.map(guarded, level):
                result.results.append(outcome)
                on_result(outcome)
            if _stop_after_failure(result, levels[index + 1:], server=cluster.server):
                break
    if not options.dry_run and not result.outage:
        try:
            result.warnings += refresh_counts(cluster, rendered, spec_name=spec_name)
        except ClusterError as error:
            result.warnings.append(f"count columns not written: {error}")
    return result


NOT_ATTEMPTED = "not attempted: the apply stopped at an earlier failure"


def _stop_after_failure(result: ApplyResult, rest: list[list[Change]], *, server: str) -> bool:
    """Whether to write no further level, and if so, why (as `result.error`). An object claimed
    by someone else while we wrote: the loser of two racing applies stops where it lost. Any
    other failure: what depends on it is not attempted. The objects not attempted are listed
    as `skipped`."""
    lost = [r for r in result.results if r.action == "conflict"]
    failed = [r for r in result.results if r.action == "failed"]
    if not lost and not failed:
        return False
    skipped = [ObjectResult(change, "skipped", NOT_ATTEMPTED) for level in rest for change in level]
    result.results += skipped
    tally = result.tally()
    if lost:
        result.error = (f"{len(lost)} object(s) were claimed by someone else while this apply ran: " +
                        "; ".join(f"{r.change.ref} {r.message}" for r in lost[:3]) + f"; {tally}")
    elif any(r.transient for r in failed):
        first = next(r for r in failed if r.transient)
        how = "stopped answering" if "cannot reach the API server" in first.message else "kept failing"
        result.error = (f"the API server ({server}) {how} during the apply: {first.message}; "
                        f"{tally}; run apply again once it is back")
        result.outage = True
    else:
        result.error = (f"{len(failed)} object(s) failed: " + "; ".join(r.message or r.change.ref for r in failed[:3])
                        + f"; {tally}")
    return True


def _write_order(change: Change) -> tuple:
    rank = KIND_ORDER.index(change.kind) if change.kind in KIND_ORDER else len(KIND_ORDER)
    deleting = change.action in ("delete", "orphan")
    return (1 if deleting else 0, -rank if deleting else rank, change.namespace or "", change.name)


def _carry_out(cluster: Cluster, change: Change, desired: Object | None, live: Object | None,
               options: ApplyOptions, spec_name: str = "") -> ObjectResult:
    try:
        if live is not None and terminating(live) and change.action not in ("delete", "orphan"):
            return ObjectResult(change, "terminating", "being deleted (by someone else): not written; a later "
                                                       "apply re-creates it once it is gone")
        if change.action == "create":
            return ObjectResult(change, *ownership.create(cluster, desired, spec_name=spec_name,
                                                          dry_run=options.dry_run))
        if change.action in ("update", "conflict") or (change.action == "drift" and options.self_heal):
            done, why = ownership.update(cluster, desired, live, spec_name=spec_name, dry_run=options.dry_run,
                                         adopt=change.action == "conflict")
            if done != "updated":
                return ObjectResult(change, done, why)
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
        return ObjectResult(change, "failed", str(exc), transient=transient(exc))


def _prune(cluster: Cluster, change: Change, live: Object | None, options: ApplyOptions) -> ObjectResult:
    ref = live or {"apiVersion": change.api_version, "kind": change.kind,
                   "metadata": {"name": change.name, "namespace": change.namespace}}
    if change.kind in RETIRED_KINDS:  # never on the plan's copy: see reconciler.retire
        action, message = retire(cluster, ref, dry_run=options.dry_run)
        return ObjectResult(change, action, message)
    cluster.delete(ref, dry_run=options.dry_run)
    return ObjectResult(change, "deleted")
