"""The allocation engine: which pool, which IP, what to write. Pure; the node agent commits.

Where things are:
- `candidates`  WHERE POOLS ARE CHOSEN (annotation/namespace/CNI-config/default rules,
                wildcards, filters with reasons, stable priority order)
- `picker`      WHERE AN IP IS PICKED (free spans, the spread-reuse cursor)
- `reuse`       where a pod gets back an address it already has (idempotent ADD, StatefulSet)
- `engine`      `allocate` (ADD) and `release` (DEL): dual-stack all-or-nothing, the Decision
- `result`      addresses, gateway and routes per interface; the SpiderEndpoint status
- `records`     `status.allocatedIPs` read and written
- `transition`  a pool after a change: `render_status`, and the group commit's `apply_change`/`diff`
- `gc`, `audit` leaked records for the garbage collector; findings for `spiderpool ipam check`
- `model`, `workload`, `snapshot`, `annotations`, `multus`, `selectors`: typed inputs
- `errors`      the exception tree
"""

from .audit import Finding, audit
from .engine import Decision, Release, allocate, release
from .errors import (AllocationError, AnnotationError, DeadPodError, ExhaustedError, NoPoolError,
                     StaleSnapshotError, UnavailableIPError)
from .gc import GcPlan, Leak, find_leaks
from .model import Pool, PoolNames, ReservedIPs
from .records import PoolChange, Record
from .result import Address, EndpointChange, NicResult, Route
from .snapshot import SYSTEM_NAMESPACE, Request, Snapshot
from .transition import render_status
from .workload import Endpoint, NamespaceInfo, NodeInfo, PodInfo, StatefulSetInfo

__all__ = [
    "Address", "AllocationError", "AnnotationError", "DeadPodError", "Decision", "Endpoint", "EndpointChange",
    "ExhaustedError", "Finding", "GcPlan", "Leak", "NamespaceInfo", "NicResult", "NoPoolError", "NodeInfo",
    "PodInfo", "Pool", "PoolChange", "PoolNames", "Record", "Release", "Request", "ReservedIPs", "Route",
    "SYSTEM_NAMESPACE", "Snapshot", "StaleSnapshotError", "StatefulSetInfo", "UnavailableIPError", "allocate", "audit",
    "find_leaks", "release", "render_status",
]
