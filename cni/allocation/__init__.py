"""The allocation engine: which pool, which IP, what to write. Pure; the node agent commits.

Where things are:
- `candidates`  WHERE POOLS ARE CHOSEN (annotation/namespace/CNI-config/default rules,
                wildcards, filters with reasons, stable priority order)
- `picker`      WHERE AN IP IS PICKED (free spans, the spread-reuse cursor)
- `reuse`       where a pod gets back an address it already has (idempotent ADD, StatefulSet)
- `engine`      `allocate` (ADD) and `release` (DEL): dual-stack all-or-nothing, the Decision
- `result`      addresses, gateway and routes per interface; the SpiderEndpoint status
- `records`     `status.allocatedIPs` read and written
- `counts`      WHAT THE COUNT COLUMNS SAY: allocatedIPCount/totalIPCount of pools and subnets
- `transition`  a pool after a change: `render_status`, and the group commit's `apply_change`/`diff`
- `retirement`  WHEN A POOL OR SUBNET MAY GO: the `gitops.spidernet.io/ip-release` finalizer's rules
- `gc`, `auditor` leaked records for the garbage collector; findings for `spiderpool ipam check`
- `model`, `workload`, `snapshot`, `annotations`, `multus`, `selectors`: typed inputs
- `errors`      the exception tree; `names`: SYSTEM_NAMESPACE
"""

from importlib import import_module

# name -> the module that defines it. Loaded on first use (PEP 562), so that a process that needs
# one value of the engine (the reconciler's SYSTEM_NAMESPACE) does not load all of it. No name may
# be a submodule's: importing that submodule would bind the module to it (a test checks).
_EXPORTS = {
    **dict.fromkeys(("Finding", "audit"), "auditor"),
    **dict.fromkeys(("pool_counts", "pool_status", "stale_counts", "status_repair", "subnet_counts"), "counts"),
    **dict.fromkeys(("Decision", "Release", "allocate", "release"), "engine"),
    **dict.fromkeys(("AllocationError", "AnnotationError", "DeadPodError", "ExhaustedError", "NoPoolError",
                     "PoolNameError", "StaleSnapshotError", "UnavailableIPError"), "errors"),
    **dict.fromkeys(("GcPlan", "Leak", "find_leaks"), "gc"),
    **dict.fromkeys(("Pool", "PoolNames", "ReservedIPs"), "model"),
    **dict.fromkeys(("PoolChange", "Record"), "records"),
    **dict.fromkeys(("Address", "EndpointChange", "NicResult", "Route"), "result"),
    **dict.fromkeys(("SYSTEM_NAMESPACE",), "names"),
    **dict.fromkeys(("Request", "Snapshot"), "snapshot"),
    **dict.fromkeys(("render_status",), "transition"),
    **dict.fromkeys(("Endpoint", "NamespaceInfo", "NodeInfo", "PodInfo", "StatefulSetInfo"), "workload"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
