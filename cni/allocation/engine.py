"""The allocator's two verbs: `allocate` (CNI ADD) and `release` (CNI DEL).

Both are pure: they read a `Snapshot` and return what to write; the agent
commits it. Pool changes are resourceVersion-guarded status updates, one per pool
(`records.render_status` builds the body); on a 409 the agent refreshes and calls
again: everything already committed is then found as HELD (see `reuse`), so a
re-run continues where the last one stopped. The SpiderEndpoint is written after
the pools.

All-or-nothing: when one required family cannot be served, `allocate` raises and
returns no changes at all. If the agent had already committed a pool of an
earlier run of the same ADD, it rolls back with `release(..., force=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cni.ipranges import parse_ip

from . import annotations, candidates as choose, reuse
from .errors import DeadPodError, NoPoolError, UnavailableIPError
from .model import Pool
from .picker import Ledger, at_record_limit, exhausted
from .records import PoolChange, Record
from .result import Address, EndpointChange, NicResult, address_of, endpoint_change, plan_routes
from .snapshot import Request, Snapshot
from .workload import STATEFULSET, Endpoint, PodInfo, statefulset_keeps


@dataclass(frozen=True)
class Decision:
    """What one ADD gives the interface, and what the agent must write for it."""

    result: NicResult
    pool_changes: tuple[PoolChange, ...]  # sorted by pool name; empty for a repeated ADD
    endpoint: EndpointChange | None  # None: the endpoint already says this
    notes: tuple[str, ...] = ()  # for the agent's log (routes not attached, ...)


@dataclass(frozen=True)
class Release:
    """What one DEL frees. Empty (and `kept` says why) when the pod keeps its IPs."""

    pool_changes: tuple[PoolChange, ...] = ()
    endpoint: EndpointChange | None = None
    kept: str | None = None


def allocate(request: Request, snapshot: Snapshot) -> Decision:
    pod = request.pod
    if not pod.alive:
        raise DeadPodError(pod.key, pod.why_dead())
    selection = choose.select(request, snapshot)
    if not any(reuse.held(snapshot, pod.uid, v, request.nic) for v in selection.families):
        choose.precheck(selection, request, snapshot)  # a repeated ADD returns what the first one gave
    wanted_routes = annotations.routes(pod)
    target = choose.Target.of(request, snapshot)
    ledger = Ledger(snapshot.reserved.family)
    chosen: list[tuple[Address, Pool]] = []
    failures: list[NoPoolError] = []
    for version in (4, 6):
        try:
            found = _one_family(request, snapshot, version, selection, target, ledger)
        except NoPoolError as error:
            failures.append(error)
            continue
        if found is not None:
            pool, record = found
            chosen.append((address_of(pool, record.ip), pool))
    if failures:
        raise _combined(failures)
    routes, notes = plan_routes(request.nic, chosen, wanted_routes, selection.clean_gateway)
    result = NicResult(request.nic, tuple(a for a, _ in chosen), routes, selection.clean_gateway)
    existing = snapshot.endpoints.get((pod.namespace, pod.name))
    keep = existing is not None and (existing.uid == pod.uid or pod.of_statefulset)
    return Decision(result, ledger.changes(), endpoint_change(pod, result, existing, keep_other_nics=keep),
                    tuple(notes))


def _one_family(request: Request, snapshot: Snapshot, version: int, selection: choose.Selection,
                target: choose.Target, ledger: Ledger) -> tuple[Pool, Record] | None:
    """HELD > RECLAIMED > RETRIEVED (see `reuse`) > a newly picked address; None if not wanted.

    An IP the runtime asked for replaces the pick, and must be the one held, reclaimed or retrieved.
    """
    selected, asked = version in selection.families, request.requested(version)
    if asked and not selected:
        raise UnavailableIPError(f"requested IP {asked} for {target.describe()} ({request.nic}): no IPv{version} "
                                 f"pools are named for this pod")
    found = reuse.held(snapshot, request.pod.uid, version, request.nic)
    if asked and found is not None and found[1].ip != asked:
        raise UnavailableIPError(f"requested IP {asked} for {target.describe()}: it already holds {found[1].ip} "
                                 f"on {request.nic}")
    if found is None and selected and not asked:
        found = reuse.reclaim(request, snapshot, version, ledger)
    found = reuse.retrieve(request, snapshot, version, selection, target, ledger, found, only=asked)
    if found is None and asked:
        found = _pick_requested(request, snapshot, version, selection, target, ledger, asked)
    elif found is None and selected:
        found = _pick(request, snapshot, version, selection, target, ledger)
    return found


def _pick(request: Request, snapshot: Snapshot, version: int, selection: choose.Selection,
          target: choose.Target, ledger: Ledger) -> tuple[Pool, Record]:
    found = choose.candidates(selection, version, target, snapshot)
    full: list[choose.Rejection] = []
    for pool in found.pools:
        record = ledger.pick(pool, pod=request.pod.key, uid=request.pod.uid, nic=request.nic)
        if record is not None:
            return pool, record
        full.append(choose.Rejection(pool.name, exhausted(pool, snapshot.reserved.family(version),
                                                          len(ledger.taken(pool)))))
    raise choose.explain(target, found, full)


def _pick_requested(request: Request, snapshot: Snapshot, version: int, selection: choose.Selection,
                    target: choose.Target, ledger: Ledger, ip: str) -> tuple[Pool, Record]:
    """The runtime's requested IP, from the first candidate pool that contains it, or an error saying why not."""
    found = choose.candidates(selection, version, target, snapshot)
    value, who = int(parse_ip(ip)), f"requested IP {ip} for {target.describe()} ({request.nic})"
    rejected = list(found.rejected)
    for pool in found.pools:
        if value not in pool.usable:
            rejected.append(choose.Rejection(pool.name, f"does not contain {ip}"))
        elif value in snapshot.reserved.family(version):
            raise UnavailableIPError(f"{who}: reserved by a SpiderReservedIP")
        elif value in pool.records:
            raise UnavailableIPError(f"{who}: held by {pool.records[value].pod} in pool {pool.name}")
        elif at_record_limit(pool, len(ledger.taken(pool))):
            why = exhausted(pool, snapshot.reserved.family(version), len(ledger.taken(pool)))
            raise UnavailableIPError(f"{who}: pool {pool.name} {why}")
        else:
            record = Record(ip, request.pod.key, request.pod.uid, request.nic)
            ledger.add(pool, record)
            return pool, record
    reasons = "; ".join(f"{r.pool}: {r.reason}" for r in rejected) or "no pool named"
    raise UnavailableIPError(f"{who}: in no usable pool (pools from {found.source}): {reasons}")


def _combined(failures: list[NoPoolError]) -> NoPoolError:
    if len(failures) == 1:
        return failures[0]
    first = failures[0]
    return type(first)(". ".join(str(f) for f in failures), tuple(c for f in failures for c in f.failures))


def release(snapshot: Snapshot, *, namespace: str, name: str, uid: str | None, nic: str | None = None,
            force: bool = False) -> Release:
    """What a DEL for (pod, uid[, nic]) frees: only records whose podUid is `uid`.

    Follows upstream §3.11: nothing is freed while the pod with this UID is alive (its
    sandbox may be re-created and ADD would return the same IPs), nor for a
    StatefulSet pod its set still wants. Once neither holds, the DEL of any one NIC
    frees every NIC of the pod and its endpoint, as upstream does: a dead pod needs
    none of them, and an interface whose own DEL never comes (Multus lost the
    delegate, an `ippools` entry no attachment was made for) cannot leak; the DELs of
    the other NICs then find nothing, which is success. `force` skips the liveness
    rules and frees only `nic` (rollback of a failed ADD, an IP conflict). A DEL
    without UID uses the pod's; if the pod is gone it frees nothing and leaves the
    records to the garbage collector.
    """
    key = f"{namespace}/{name}"
    pod = snapshot.pods.get((namespace, name))
    if uid is None:
        if pod is None:
            return Release(kept=f"no pod UID and no pod {key}; left to the garbage collector")
        uid = pod.uid
    endpoint = snapshot.endpoints.get((namespace, name))
    if not force:
        why = _kept(snapshot, key, pod, uid, endpoint)
        if why:
            return Release(kept=why)
        nic = None  # the pod is done with every interface: free them all
    ledger = Ledger(snapshot.reserved.family)
    for pool in sorted(snapshot.pools.values(), key=lambda p: p.name):
        for record in pool.by_uid.get(uid, ()):
            if nic is None or snapshot.record_nic(record) == nic:
                ledger.remove(pool, record)
    return Release(ledger.changes(), _endpoint_after_release(endpoint, uid, nic))


def _kept(snapshot: Snapshot, key: str, pod: PodInfo | None, uid: str, endpoint: Endpoint | None) -> str | None:
    if pod is not None and pod.uid == uid and pod.alive:
        return f"pod {key} is alive; its sandbox may be re-created and keeps its IPs"
    owner = pod.owner_name if pod is not None and pod.of_statefulset else (
        endpoint.owner_name if endpoint is not None and endpoint.owner_kind == STATEFULSET else None)
    namespace, _, name = key.partition("/")
    if owner and statefulset_keeps(namespace, name, owner, snapshot.statefulsets):
        return f"pod {key} is within the replicas of StatefulSet {owner}; it keeps its IPs"
    return None


def _endpoint_after_release(endpoint: Endpoint | None, uid: str, nic: str | None) -> EndpointChange | None:
    """Drop the released NIC from the pod's endpoint; delete it when no NIC is left (or all were released)."""
    if endpoint is None or endpoint.uid != uid:
        return None
    current = endpoint.status.get("current") or {}
    left = [e for e in current.get("ips") or () if nic is not None and e.get("interface") != nic]
    if nic is not None and left == list(current.get("ips") or ()):
        return None
    if not left:
        return EndpointChange(endpoint.namespace, endpoint.name, None, resource_version=endpoint.resource_version)
    status = {**endpoint.status, "current": {**current, "ips": left}}
    return EndpointChange(endpoint.namespace, endpoint.name, status, resource_version=endpoint.resource_version)
