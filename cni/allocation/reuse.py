"""WHERE A POD GETS BACK AN ADDRESS IT ALREADY HAS, before a new one is picked.

In this order, per family, for (pod, interface):
1. HELD: a record with this pod UID and interface (idempotent ADD, a retried
   ADD after a 409 or a crash between commits). The record wins over everything.
2. RECLAIMED: the pod's SpiderEndpoint (same UID) names an address for this
   interface that no record holds any more; it is taken back if still free.
3. RETRIEVED (StatefulSet): a record with this pod's *name* and an older UID, in a
   pool that is still a candidate for this interface (disabled pools count: the IP
   is already the pod's; terminating ones do not), on an address still usable.
   The record is rewritten to the new UID (remove + add in the same pool update).
   Other old records of the pod's name on this interface are removed. A set that
   is known and no longer wants this ordinal retrieves nothing (§3.10).
"""

from __future__ import annotations

from cni.ipranges import parse_ip

from .candidates import Selection, Target, candidates
from .model import Pool
from .picker import Ledger
from .records import Record
from .snapshot import Request, Snapshot


def held(snapshot: Snapshot, uid: str, version: int, nic: str) -> tuple[Pool, Record] | None:
    for pool in snapshot.pools_by_family[version]:
        for record in pool.by_uid.get(uid, ()):
            if snapshot.record_nic(record) == nic:
                return pool, record
    return None


def reclaim(request: Request, snapshot: Snapshot, version: int, ledger: Ledger) -> tuple[Pool, Record] | None:
    pod = request.pod
    endpoint = snapshot.endpoints.get((pod.namespace, pod.name))
    entry = endpoint.nic(request.nic) if endpoint is not None and endpoint.uid == pod.uid else None
    ip, pool_name = entry.address(version) if entry else (None, None)
    pool = snapshot.pools.get(pool_name or "")
    if not ip or pool is None or pool.broken or pool.terminating or pool.version != version:
        return None
    value = int(parse_ip(ip))
    if value not in pool.usable or value in pool.allocated or value in snapshot.reserved.family(version):
        return None
    record = Record(str(parse_ip(ip)), pod.key, pod.uid, request.nic)
    ledger.add(pool, record)
    return pool, record


def retrieve(request: Request, snapshot: Snapshot, version: int, selection: Selection, target: Target,
             ledger: Ledger, found: tuple[Pool, Record] | None, *, only: str | None = None
             ) -> tuple[Pool, Record] | None:
    """StatefulSet: take over one of this pod name's old records (the one for IP `only`,
    if given) unless `found` already gives an address; remove the old records not taken.
    Returns what the pod now has."""
    pod = request.pod
    if not pod.of_statefulset:
        return found
    old = [(pool, r) for pool in snapshot.pools_by_family[version] for r in pool.by_pod.get(pod.key, ())
           if r.uid != pod.uid and snapshot.record_nic(r) == request.nic]
    if found is None and old and _wanted(request, snapshot) and version in selection.families:
        allowed = {p.name for p in candidates(selection, version, target, snapshot, keep_disabled=True).pools}
        for pool, record in old:
            value = int(parse_ip(record.ip))
            if only not in (None, record.ip):
                continue
            if pool.name in allowed and value in pool.usable and value not in snapshot.reserved.family(version):
                found = pool, Record(record.ip, pod.key, pod.uid, request.nic)
                ledger.add(*found)
                break
    for pool, record in old:
        ledger.remove(pool, record)
    return found


def _wanted(request: Request, snapshot: Snapshot) -> bool:
    pod = request.pod
    sts = snapshot.statefulsets.get((pod.namespace, pod.owner_name or ""))
    return sts is None or sts.wants(pod.name)  # unknown set: the pod exists, so its set created it
