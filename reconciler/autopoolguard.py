"""The spec and the auto pools: what a plan may not do to a SpiderSubnet that apps draw pools from.

Why it exists: auto pools belong to applications, not to the spec (they carry no spec label,
so plan and apply never show, change or prune them). But the subnet they are cut from is the
spec's, and two spec changes would pull the ground from under them:

    deleting (pruning) a subnet that still controls auto pools    -> refused, naming the pools
                                                                     and their apps
    shrinking its ips / growing its excludeIPs so that IPs the    -> refused, naming the pools
    subnet handed to pools fall outside it                           and the IPs
    a spec pool (new or changed) taking IPs an auto pool holds    -> refused, naming the auto pool
                                                                     and the IPs

Both show in `plan` as `refused` changes (and make it exit 1) and stop `apply` before it
writes anything. The source of truth is the subnet's own ledger, `status.controlledIPPools`,
which the auto-pool controller keeps. Pools of the spec itself are left to the validator
(their IPs must lie in their subnet's), since the same apply may move them. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from cni.allocation import autopool as ap
from cni.ipranges import compact

from .model import Object
from .plan import Plan, identity

SHOWN = 5


def guard(plan: Plan, desired: Iterable[Object], live: Iterable[Object]) -> None:
    """Turn the subnet changes the auto pools forbid into `refused` ones, in place."""
    live_by_id = {identity(o): o for o in live}
    desired = list(desired)
    desired_by_id = {identity(o): o for o in desired}
    spec_pools = {o["metadata"]["name"] for o in desired if o["kind"] == "SpiderIPPool"}
    subnets = {(o.get("spec") or {}).get("subnet"): o for o in live_by_id.values() if o["kind"] == "SpiderSubnet"}
    for index, change in enumerate(plan.changes):
        current = live_by_id.get(change.key)
        if change.kind == "SpiderIPPool" and change.action in ("create", "update") and change.key in desired_by_id:
            reason = _takes_auto_ips(desired_by_id[change.key], subnets)
            if reason:
                plan.changes[index] = dataclasses.replace(change, action="refused", reason=reason, drain=False)
            continue
        if change.kind != "SpiderSubnet" or current is None:
            continue
        version = ap.subnet_version(current)
        ledger = ap.controlled_of(current)
        reason = ""
        if change.action == "delete":
            auto = {name: entry for name, entry in sorted(ledger.items()) if entry.application}
            if auto:
                reason = (f"it still controls {len(auto)} auto pool(s): " + _list(
                    f"{name} (of {entry.application})" for name, entry in auto.items()) +
                    "; they go with their applications (delete the apps, or drop their ipam.spidernet.io/subnet "
                    "annotation), then the subnet can be pruned")
        elif change.action in ("update", "drift") and change.key in desired_by_id:
            keeps = ap.usable(desired_by_id[change.key], version)
            outside = {name: entry.ips - keeps for name, entry in sorted(ledger.items())
                       if name not in spec_pools and entry.ips - keeps}
            if outside:
                reason = ("the new ips/excludeIPs leave out IPs the subnet has handed to pools: " + _list(
                    f"{name} ({', '.join(compact(ips, version)[:3])})" for name, ips in outside.items()) +
                    "; keep those IPs in the subnet, or shrink the pools' apps first")
        if reason:
            plan.changes[index] = dataclasses.replace(change, action="refused", reason=reason, drain=False)


def _takes_auto_ips(pool: Object, subnets: dict) -> str:
    """Why a spec pool may not have its IPs: some are an auto pool's (by its subnet's ledger); "" if none."""
    spec = pool.get("spec") or {}
    subnet = subnets.get(spec.get("subnet"))
    if subnet is None:
        return ""
    version = ap.subnet_version(subnet)
    mine = ap.usable(pool, version)
    ledger = ap.controlled_of(subnet)
    taken = {name: ap.intersect(entry.ips, mine) for name, entry in sorted(ledger.items())
             if entry.application and name != pool["metadata"]["name"]}
    taken = {name: ips for name, ips in taken.items() if ips}
    if not taken:
        return ""
    return ("its IPs overlap auto pool(s) of applications: " + _list(
        f"{name} ({', '.join(compact(ips, version)[:3])})" for name, ips in taken.items()) +
        "; pick IPs the subnet has not handed out (spiderpool ipam subnets -o json lists them)")


def _list(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
