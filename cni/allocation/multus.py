"""Which NetworkAttachmentDefinition and which position an interface has, from Multus annotations.

eth0 is the cluster network (`v1.multus-cni.io/default-network`, else the agent's
configured cluster network); secondary interfaces are the entries of
`k8s.v1.cni.cncf.io/networks` in order, named `net1`, `net2`, ... unless the entry
names one (`ns/name@ifname` or `"interface": ...`). Bare NAD names are in the
pod's namespace for secondary networks, in the system namespace for eth0.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import AnnotationError
from .workload import PodInfo

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
PRIMARY = "eth0"


@dataclass(frozen=True)
class Attachment:
    nad: str  # "namespace/name"
    interface: str


def qualify(name: str, namespace: str) -> str:
    return name if "/" in name else f"{namespace}/{name}"


def secondary(pod: PodInfo) -> tuple[Attachment, ...]:
    text = (pod.annotations.get(NETWORKS) or "").strip()
    if not text:
        return ()
    entries = _json_entries(pod, text) if text.startswith("[") else _comma_entries(text)
    return tuple(Attachment(qualify(name, namespace or pod.namespace), interface or f"net{i + 1}")
                 for i, (namespace, name, interface) in enumerate(entries))


def _json_entries(pod: PodInfo, text: str) -> list[tuple[str | None, str, str | None]]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise AnnotationError(f"pod {pod.key}", NETWORKS, f"not valid JSON ({exc})") from None
    if not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in value):
        raise AnnotationError(f"pod {pod.key}", NETWORKS, "every entry needs a name")
    return [(e.get("namespace"), e["name"], e.get("interface")) for e in value]


def _comma_entries(text: str) -> list[tuple[str | None, str, str | None]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        ref, _, interface = part.partition("@")
        namespace, _, name = ref.rpartition("/")
        out.append((namespace or None, name, interface or None))
    return out


def nad_for(pod: PodInfo, nic: str, *, cluster_network: str | None, system_namespace: str) -> str | None:
    """The NAD behind `nic`, or None when it cannot be told."""
    if nic == PRIMARY:
        name = pod.annotations.get(DEFAULT_NETWORK) or cluster_network
        return qualify(name, system_namespace) if name else None
    return next((a.nad for a in secondary(pod) if a.interface == nic), None)


def position(pod: PodInfo, nic: str) -> int | None:
    """0 for eth0, i for the i-th secondary attachment (1-based); `netN` falls back to N."""
    if nic == PRIMARY:
        return 0
    for index, attachment in enumerate(secondary(pod), start=1):
        if attachment.interface == nic:
            return index
    match = re.fullmatch(r"net(\d+)", nic)
    return int(match.group(1)) if match else None
