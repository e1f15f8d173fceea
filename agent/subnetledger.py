"""One SpiderSubnet's pools brought to the sizes their apps want, without ever handing an IP out twice.

Why it exists: both the auto-pool controller (every app of a subnet, each pass) and the node
agent (a third-party controller's pool, on its pod's first ADD) cut pools from a subnet. The
subnet's `status.controlledIPPools` is the ledger of which pool holds which of its IPs. The
order of writes keeps the ledger safe whatever crashes in between:

    1. pools that only SHRINK (their new IPs are all already theirs): pool spec first
       (guarded PUT) -- the ledger still reserves the dropped IPs, so nobody can take them yet
    2. the ledger: one guarded PUT of the subnet status with every pool's new IPs
       -- an IP enters the ledger before any pool holds it
    3. pools that are NEW or GROW: created / PUT with the IPs the ledger now reserves for them

A crash between 2 and 3 leaves the ledger ahead of a pool; a crash between 1 and 2 leaves a
pool behind its ledger entry. Either way the next pass starts each pool from the union of
its entry and its spec (all reserved for it, none anyone else's) and sizes that, so the
ledger and the pools converge. Every write is guarded by the resourceVersion it was decided
on: a 409 (an agent allocating, another writer) ends the pass for this subnet; the caller
decides again on fresh data. Shrinking drops the pool's lowest unallocated IPs only; the
agent's status writes are guarded too, so an allocation racing a shrink makes one of the
two writes fail and be decided again.

Free IPs = the subnet's ips - excludeIPs - every ledger entry - every pool in the subnet's
CIDR (manual pools too, recorded in the ledger without an application) - SpiderReservedIPs;
the lowest are taken first, as upstream does.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from cni.allocation import Pool, subnet_counts
from cni.allocation import autopool as ap
from cni.allocation.retirement import FINALIZER
from cni.ipranges import RangeSet, compact

from agent import kube as k8s


WRITERS = 8


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    scaled: list[tuple[str, int, int]] = field(default_factory=list)     # (pool, before, after)
    exhausted: list[tuple[ap.Want, int, int]] = field(default_factory=list)  # (want, short, free)
    waiting: list[tuple[str, int]] = field(default_factory=list)        # (pool, allocated IPs a shrink waits for)
    writes: int = 0
    conflict: str = ""                                                  # why the pass stopped early


def pool_ips(pool: Mapping[str, Any], version: int) -> RangeSet:
    return ap.ranges((pool.get("spec") or {}).get("ips"), version)


def allocated(pool: Mapping[str, Any] | None) -> RangeSet:
    return Pool.from_object(pool).allocated if pool is not None else RangeSet()


@dataclass
class Ledger:
    """The pass over one subnet. `manage_all`: the caller knows every app of the subnet (the
    controller), so ledger entries of pools that exist nowhere and no app wants are dropped."""

    kube: k8s.Kube
    subnet: dict
    pools: Mapping[str, dict]           # every SpiderIPPool, by name
    reserved: RangeSet                  # SpiderReservedIPs of the subnet's family
    manage_all: bool = True
    seen: Callable[[k8s.Kind, dict], None] = lambda kind, obj: None  # each object written, as answered

    def __post_init__(self) -> None:
        self.version = ap.subnet_version(self.subnet)
        self.cidr = (self.subnet.get("spec") or {}).get("subnet")
        self.name = self.subnet["metadata"]["name"]
        self.usable = ap.usable(self.subnet, self.version)
        self.terminating = bool(self.subnet["metadata"].get("deletionTimestamp"))

    def run(self, wants: list[tuple[ap.Want, str]]) -> Outcome:
        """`wants`: (want, the name of its pool) for this subnet's apps."""
        outcome = Outcome()
        entries = ap.controlled_of(self.subnet)
        wanted = {name: want for want, name in wants}
        ledger, basis = self._basis(entries, wanted)
        free = self.usable - ap.union(e.ips for e in ledger.values()) - ap.union(basis.values()) - self.reserved
        before, after = [], []  # pool writes before / after the ledger
        for name in sorted(wanted):
            want, pool = wanted[name], self.pools.get(name)
            current = basis.get(name, RangeSet())
            if pool is not None and pool["metadata"].get("deletionTimestamp"):
                ledger[name] = ap.Controlled(current, want.app.application)
                continue
            size = current.size if self.terminating and want.size > current.size else want.size
            change = ap.resize(current, size, free=free, allocated=allocated(pool))
            if change.short:
                outcome.exhausted.append((want, change.short, free.size))
            if change.waiting:
                outcome.waiting.append((name, change.waiting))
            free = free - change.ips
            if change.ips:
                ledger[name] = ap.Controlled(change.ips, want.app.application)
            if pool is None:
                if change.ips:
                    after.append((want, name, None, change.ips))
            elif pool_ips(pool, self.version) != change.ips or _stale_meta(pool, want):
                (before if _within(change.ips, current) else after).append((want, name, pool, change.ips))
        if not self._write_pools(before, outcome) or not self._write_ledger(ledger, outcome):
            return outcome
        self._write_pools(after, outcome)
        return outcome

    def _write_pools(self, items: list, outcome: Outcome) -> bool:
        """Independent pool writes, a few at a time (as many as the client sends at once)."""
        if len(items) <= 1:
            return all(self._write_pool(*item, outcome) for item in items)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            return all(list(pool.map(lambda item: self._write_pool(*item, outcome), items)))

    def _basis(self, entries: Mapping[str, ap.Controlled], wanted: Mapping[str, ap.Want]):
        """(the ledger without the wanted pools, what each auto pool holds now: entry | spec)."""
        ledger: dict[str, ap.Controlled] = {}
        basis: dict[str, RangeSet] = {}
        in_cidr = {n: p for n, p in self.pools.items() if (p.get("spec") or {}).get("subnet") == self.cidr}
        for name, pool in in_cidr.items():
            mine = ap.is_auto_pool(pool) and (pool["metadata"].get("labels") or {}).get(ap.LABEL_SUBNET) == self.name
            if not mine and name not in wanted:
                ledger[name] = ap.Controlled(ap.intersect(ap.usable(pool, self.version), self.usable))
                continue
            entry = entries.get(name)
            basis[name] = pool_ips(pool, self.version) | (entry.ips if entry else RangeSet())
            if name not in wanted:
                labels = pool["metadata"].get("labels") or {}
                ledger[name] = ap.Controlled(basis[name], _application(labels))
        for name, entry in entries.items():
            if name in in_cidr:
                continue
            if name in wanted:
                basis[name] = entry.ips           # written to the ledger, the pool not yet created
            elif not self.manage_all:
                ledger[name] = entry              # someone else's: not ours to judge
        return ledger, basis

    def _write_ledger(self, ledger: Mapping[str, ap.Controlled], outcome: Outcome) -> bool:
        status = dict(self.subnet.get("status") or {})
        wanted = {**status, "controlledIPPools": ap.encode_controlled(ledger, self.version),
                  **subnet_counts(self.subnet, self.pools.values(), ledger)}
        if wanted == status:
            return True
        body = for_put(self.subnet)
        body["status"] = wanted
        try:
            self.subnet = self.kube.replace_status(k8s.SUBNETS, body)
            self.seen(k8s.SUBNETS, self.subnet)
        except (k8s.Conflict, k8s.NotFound) as error:
            outcome.conflict = f"SpiderSubnet {self.name} changed meanwhile: {error}"
            return False
        outcome.writes += 1
        return True

    def _write_pool(self, want: ap.Want, name: str, pool: dict | None, ips: RangeSet, outcome: Outcome) -> bool:
        try:
            if pool is None:
                obj = ap.new_pool(want, self.subnet, ips, finalizer=FINALIZER)
                obj["metadata"]["name"] = name
                self.seen(k8s.POOLS, self.kube.create(k8s.POOLS, obj))
                outcome.created.append(name)
            else:
                body = for_put(pool)
                body["spec"]["ips"] = compact(ips, self.version)
                meta = body["metadata"]
                meta.setdefault("annotations", {})[ap.IP_NUMBER] = want.number.text
                meta.setdefault("labels", {})[ap.LABEL_RECLAIM] = "true" if want.reclaim else "false"
                self.seen(k8s.POOLS, self.kube.replace(k8s.POOLS, body))
                old = pool_ips(pool, self.version).size
                if old != ips.size:
                    outcome.scaled.append((name, old, ips.size))
        except (k8s.Conflict, k8s.AlreadyExists, k8s.NotFound) as error:
            outcome.conflict = f"SpiderIPPool {name} changed meanwhile: {error}"
            return False
        outcome.writes += 1
        return True


def _within(new: RangeSet, old: RangeSet) -> bool:
    return not (new - old)


def _stale_meta(pool: Mapping[str, Any], want: ap.Want) -> bool:
    meta = pool.get("metadata") or {}
    return ((meta.get("annotations") or {}).get(ap.IP_NUMBER) != want.number.text
            or (meta.get("labels") or {}).get(ap.LABEL_RECLAIM) != ("true" if want.reclaim else "false"))


def _application(labels: Mapping[str, str]) -> str | None:
    if ap.LABEL_KIND not in labels:
        return None
    return f"{labels.get(ap.LABEL_GV)}_{labels.get(ap.LABEL_KIND)}_{labels.get(ap.LABEL_NAMESPACE)}_" \
           f"{labels.get(ap.LABEL_NAME)}"


def for_put(obj: Mapping[str, Any]) -> dict:
    """A copy for a guarded PUT: resourceVersion kept, managedFields dropped."""
    out = copy.deepcopy(dict(obj))
    out["metadata"].pop("managedFields", None)
    return out
