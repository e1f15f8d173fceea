"""`spiderpool ipam check`: what is wrong with the allocation records, as findings.

Kinds (sorted by kind, then subject):
- broken-pool        a pool whose spec or allocatedIPs cannot be read (it allocates nothing)
- duplicate-ip       one IP recorded in two pools, or claimed by two SpiderEndpoints
- duplicate-record   one IP written twice as a key of one pool's allocatedIPs
- double-allocation  one pod UID holds two IPs of one family on one interface
- outside-pool       a record for an IP not in the pool's ips - excludeIPs
- reserved-ip        a record for an IP that a SpiderReservedIP now reserves
- missing-pod        a record whose pod is gone (see `gc` for the StatefulSet exception)
- leak               a record of a finished, re-created or overdue terminating pod
- count-mismatch     status.allocatedIPCount / totalIPCount disagree with the records / ips
- endpoint-mismatch  a SpiderEndpoint address no pool record backs for its pod UID
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cni.ipranges import format_ip

from .gc import leak_reason
from .snapshot import Snapshot


@dataclass(frozen=True, order=True)
class Finding:
    kind: str
    subject: str
    message: str


def audit(snapshot: Snapshot, *, now: datetime) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    holders: dict[tuple[int, int], list[str]] = {}
    for pool in sorted(snapshot.pools.values(), key=lambda p: p.name):
        if pool.broken:
            findings.append(Finding("broken-pool", pool.name, pool.broken))
            continue
        findings += [Finding("duplicate-record", pool.name, f"{ip} is a key twice in status.allocatedIPs")
                     for ip in pool.duplicate_keys]
        findings += _counts(pool)
        owned: dict[tuple[str, str], list[str]] = {}
        for value, record in sorted(pool.records.items()):
            holders.setdefault((pool.version, value), []).append(f"{pool.name} ({record.pod})")
            owned.setdefault((record.uid, snapshot.record_nic(record)), []).append(record.ip)
            findings += _record(snapshot, pool, value, record, now)
        findings += [Finding("double-allocation", pool.name, f"pod UID {uid} holds {', '.join(ips)} on {nic}")
                     for (uid, nic), ips in owned.items() if len(ips) > 1]
    for (version, value), where in holders.items():
        if len(where) > 1:
            findings.append(Finding("duplicate-ip", _ip(value, version), f"recorded in {' and '.join(where)}"))
    findings += _endpoints(snapshot)
    return tuple(sorted(findings))


def _counts(pool) -> list[Finding]:
    out = []
    if pool.status_allocated_count is not None and pool.status_allocated_count != len(pool.records):
        out.append(Finding("count-mismatch", pool.name, f"allocatedIPCount is {pool.status_allocated_count}, "
                                                        f"the records hold {len(pool.records)}"))
    if pool.status_total_count is not None and pool.status_total_count != pool.total_ip_count:
        out.append(Finding("count-mismatch", pool.name, f"totalIPCount is {pool.status_total_count}, "
                                                        f"ips - excludeIPs has {pool.total_ip_count}"))
    return out


def _record(snapshot: Snapshot, pool, value: int, record, now: datetime) -> list[Finding]:
    out = []
    subject = f"{pool.name} {record.ip}"
    if value not in pool.usable:
        out.append(Finding("outside-pool", subject, f"held by {record.pod}, but not in ips - excludeIPs"))
    if value in snapshot.reserved.family(pool.version):
        out.append(Finding("reserved-ip", subject, f"held by {record.pod}, but reserved by a SpiderReservedIP"))
    reason = leak_reason(snapshot, pool, record, now)
    if reason:
        gone = (record.namespace, record.name) not in snapshot.pods
        out.append(Finding("missing-pod" if gone else "leak", subject, reason))
    return out


def _endpoints(snapshot: Snapshot) -> list[Finding]:
    out = []
    claims: dict[str, list[str]] = {}
    for (namespace, name), endpoint in sorted(snapshot.endpoints.items()):
        for nic in endpoint.nics:
            for version in (4, 6):
                ip, pool_name = nic.address(version)
                if not ip:
                    continue
                claims.setdefault(ip, []).append(f"{namespace}/{name}")
                pool = snapshot.pools.get(pool_name or "")
                record = pool.holder(ip) if pool is not None and not pool.broken else None
                if record is None or record.uid != endpoint.uid:
                    held = f"held by {record.pod} (UID {record.uid})" if record else "not recorded"
                    out.append(Finding("endpoint-mismatch", f"{namespace}/{name}",
                                       f"{nic.interface} {ip} in pool {pool_name}: {held}"))
    out += [Finding("duplicate-ip", ip, f"claimed by SpiderEndpoints {' and '.join(who)}")
            for ip, who in claims.items() if len(who) > 1]
    return out


_ip = format_ip
