"""The guard upstream's webhook gives and we give in `plan`: no spec change may strand an allocated IP.

Why it exists: upstream's SpiderIPPool webhook refuses an update that removes (through `ips`
or `excludeIPs`) an address a pod holds, and makes `subnet` and `ipVersion` immutable. We
have no webhook; without this, applying such a spec would leave records for addresses the
pool no longer has (the pod keeps an address nobody accounts for, and a later pool may hand
it out again: a duplicate IP). So a plan marks such a change `refused`, naming the addresses
and the pods that hold them, and apply refuses it before writing anything.

    unsafe when the live pool holds records and the desired spec
      - no longer has some held address among its usable ones (ips - excludeIPs), or
      - has another `subnet` or `ipVersion`

Pure: the desired object and the live one (its status carries the records) in, a reason out.
"""

from __future__ import annotations

from typing import Any, Mapping

from cni.allocation import Pool

MAX_NAMED = 10  # addresses named in one reason; the rest are counted


def stranded(desired: Mapping[str, Any], live: Mapping[str, Any]) -> str:
    """Why writing `desired` over the live pool would strand allocated IPs ("" when it would not)."""
    if desired.get("kind") != "SpiderIPPool":
        return ""
    held = Pool.from_object(live)
    if not held.records:
        return ""
    wanted = Pool.from_object(desired)
    records = sorted(held.records.items())
    before, after = live.get("spec") or {}, desired.get("spec") or {}
    for field in ("subnet", "ipVersion"):
        if field in after and field in before and str(after[field]) != str(before[field]):
            return (f"spec.{field} {before[field]} -> {after[field]} while {len(records)} IP(s) are allocated "
                    f"({_named(records)}); a pool in use keeps its {field} (upstream makes it immutable): "
                    "release its IPs first, or add a new pool beside it")
    gone = [(value, record) for value, record in records if value not in wanted.usable]
    if not gone:
        return ""
    return (f"would take {len(gone)} allocated IP(s) out of spec.ips - spec.excludeIPs: {_named(gone)}; "
            "release them first (delete or move those pods), or keep them in the pool")


def _named(records) -> str:
    shown = ", ".join(f"{record.ip} ({record.pod})" for _, record in records[:MAX_NAMED])
    return shown + (f" and {len(records) - MAX_NAMED} more" if len(records) > MAX_NAMED else "")
