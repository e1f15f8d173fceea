"""The agent's `POST /v1/coordinator`: one coordinator ADD/DEL/CHECK, recipe-style.

Why it exists: the plugin the runtime execs only forwards; the warm agent resolves
the configuration (NAD > pod annotation > SpiderCoordinator `default`), reads the
pod's and the node's network state, plans (pure) and applies. What comes from the
cluster (the SpiderCoordinator, the pod, giving an IP back, reporting a finding) is
handed in by the agent as callables: nothing here talks to Kubernetes. ADD answers prevResult
unchanged in the conf's cniVersion. DEL cleans what ADD made on the node and is
idempotent; a missing pod netns is success. The body is /v1/cni's shape plus
`hostNetns`, the plugin's own namespace (the node's; None: the agent's own).

Whatever the body says, the agent (root, in every namespace's reach) only touches what
the caller may: `hostNetns` must name the node's network namespace — the agent's own or
PID 1's — or the caller's own (its pid from the socket's SO_PEERCRED), compared by
namespace inode; the pod's `netns` must not be the host side; containerID and ifName
are checked as the IPAM path checks them. Anything else is refused with code 4.

With `detectIPConflict` / `detectGateway` ADD first asks the link, from the pod's netns
on its NIC and within a time bound: another holder of one of the NIC's addresses, or a
gateway that does not answer, fails the ADD (and is reported as an `IPConflict` /
`GatewayUnreachable` finding when node reports are on). A conflicting address is given
back to its pool at once (`release`, force) unless the pod belongs to a StatefulSet,
whose IPs are fixed. After a successful ADD each address is announced (gratuitous ARP /
unsolicited NA), best-effort.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from cni.protocol import Code, CniError, Reply, check_container_id, check_if_name

from . import apply as kernel
from . import probes
from .config import DEFAULT_HOST_RULE_TABLE, ConfigError, CoordinatorConfig, resolve
from .netns import netns_id
from .plan import Nic, PlanError, plan_add, plan_del

PLUGIN_ERROR = Code.PLUGIN_ERROR  # the pod's network could not be tuned
NODE_NETNS = ("/proc/self/ns/net", "/proc/1/ns/net")  # the agent's namespace and PID 1's: the node's
NETNS_PATH_MAX = 4096
CONFLICT_BUDGET = 1.0  # seconds all of a NIC's conflict probes may take together
GATEWAY_TIMEOUT = 1.0  # seconds one gateway has to answer


class CoordinatorService:
    """`spider_coordinator()` is SpiderCoordinator `default` (None: there is none; CniError 11 when it cannot
    be read); `pod_of(body)` the pod of CNI_ARGS; `release(pod, nic)` gives a conflicting IP back (the
    agent's force release); `nodereport` is the agent's NodeReporter (None: reports off); `probes` is
    coordinator.probes (tests stub it)."""

    def __init__(self, *, spider_coordinator: Callable[[], dict | None], pod_of: Callable[[Any], Any],
                 log: Any = None, release: Callable[[Any, str], None] | None = None, nodereport: Any = None,
                 probes: Any = probes):
        self.spider_coordinator, self.pod_of, self.log = spider_coordinator, pod_of, log
        self.release, self.nodereport, self.probes = release, nodereport, probes

    def handle(self, body: Any, *, caller_pid: int = 0) -> Reply:
        """One request; `caller_pid` is the plugin process on the socket (0: unknown, e.g. in-process)."""
        version = _version(body)
        try:
            if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
                raise CniError(Code.DECODE_FAILURE, "coordinator: the request carries no network configuration")
            command = body.get("command")
            if command in ("ADD", "DEL"):
                _check_environment(body, command)
                body = {**body, "hostNetns": _host_netns(body, caller_pid)}
            if command == "ADD":
                return self.add(body, version)
            if command == "DEL":
                return self.delete(body)
            if command in ("CHECK", "GC", "STATUS"):
                return Reply.ok()
            raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: unknown command {command!r}")
        except CniError as error:
            return Reply.of_error(error, version)
        except (ConfigError, PlanError) as error:
            return Reply.of_error(CniError(Code.INVALID_NETWORK_CONFIG, str(error)), version)
        except kernel.ApplyError as error:
            return Reply.of_error(CniError(PLUGIN_ERROR, str(error)), version)
        except Exception as error:  # noqa: BLE001 - a bug must still reach the runtime as a CNI error
            return Reply.of_error(CniError(Code.INTERNAL, f"coordinator internal error: {type(error).__name__}: {error}"),
                                  version)

    def add(self, body: dict, version: str) -> Reply:
        conf, if_name, netns = body["config"], body.get("ifName") or "", body.get("netns") or ""
        prev = conf.get("prevResult")
        if not isinstance(prev, dict):
            raise CniError(Code.INVALID_NETWORK_CONFIG, "coordinator: must be chained after a main plugin "
                                                        "(no prevResult)")
        pod = self._pod(body)
        cfg = resolve(conf, pod_annotations=dict(pod.annotations) if pod is not None else {},
                      coordinator=self.spider_coordinator())
        out = json.dumps({**prev, "cniVersion": version}) + "\n"
        if cfg.mode == "disabled":
            return Reply(0, out)
        nic = Nic(if_name, _nic_ips(prev, if_name))
        if not nic.ips:
            raise CniError(Code.INVALID_NETWORK_CONFIG, f"coordinator: prevResult has no address for {if_name}")
        host_netns = body["hostNetns"]
        _check_pod_netns(netns, host_netns)
        try:
            pod_socket = kernel.open_iproute(netns)
        except FileNotFoundError:
            raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: the pod netns {netns} does not exist") from None
        with pod_socket:
            if cfg.detect_ip_conflict:
                self._detect_conflicts(netns, nic, pod)
            if cfg.detect_gateway:
                self._detect_gateways(netns, nic, pod)
            with kernel.netlink(host_netns) as host_socket:
                state = kernel.read_pod(pod_socket)
                host = kernel.read_host(host_socket, [cidr.split("/")[0] for cidr, _ in nic.ips])
                plan = plan_add(cfg, nic=nic, container_id=body.get("containerID") or "", pod=state, host=host)
                kernel.apply(plan.ops, pod_netns=netns, host_netns=host_netns,
                             sockets={"pod": pod_socket, "host": host_socket})
        self._announce(netns, nic)
        return Reply(0, out)

    # -- probes ------------------------------------------------------------------------------------

    def _detect_conflicts(self, netns: str, nic: Nic, pod: Any) -> None:
        """Another holder of one of the NIC's addresses fails the ADD; the address is released (not a StatefulSet's)."""
        ips = [cidr.split("/")[0] for cidr, _ in nic.ips]
        deadline = time.monotonic() + CONFLICT_BUDGET
        for index, ip in enumerate(ips):
            timeout = max(0.05, (deadline - time.monotonic()) / (len(ips) - index))
            try:
                mac = self.probes.probe_ip_conflict(netns, nic.name, ip, timeout=timeout)
            except probes.ProbeError as error:
                raise CniError(PLUGIN_ERROR, f"coordinator: cannot probe {ip} on {nic.name} for a conflict: "
                                             f"{error}") from None
            if mac:
                message = f"coordinator: IP {ip} of {nic.name} conflicts: it is already in use by MAC {mac}"
                raise CniError(PLUGIN_ERROR, message + "; " + self._give_back(pod, nic.name, ip, mac, message))

    def _give_back(self, pod: Any, nic: str, ip: str, mac: str, message: str) -> str:
        """Release (or keep) the conflicting IP, report the finding -> what became of the IP, for the error."""
        if pod is None:
            outcome = "the IP is not released: the pod is unknown (no K8S_POD_NAME)"
        elif getattr(pod, "of_statefulset", False):
            outcome = (f"the IP is kept: pod {pod.key} belongs to StatefulSet {pod.owner_name}, whose IPs are fixed; "
                       "free the address on the other host")
        elif self.release is None:
            outcome = "the IP is not released: no IPAM release path is configured"
        else:
            try:
                self.release(pod, nic)
                outcome = f"the IP is released from pod {pod.key}; a retried ADD gets another one"
            except Exception as error:  # noqa: BLE001 - the conflict is the news; the release failure is told
                outcome = f"releasing the IP failed ({type(error).__name__}: {error}); the garbage collector will"
        self._report("IPConflict", pod, f"{message}; {outcome}")
        return outcome

    def _detect_gateways(self, netns: str, nic: Nic, pod: Any) -> None:
        for gateway in dict.fromkeys(gw for _, gw in nic.ips if gw):
            try:
                up = self.probes.probe_gateway(netns, nic.name, gateway, timeout=GATEWAY_TIMEOUT)
            except probes.ProbeError as error:
                raise CniError(PLUGIN_ERROR, f"coordinator: cannot probe gateway {gateway} on {nic.name}: "
                                             f"{error}") from None
            if not up:
                message = (f"coordinator: gateway {gateway} is unreachable from {nic.name}: no answer to ARP/NDP "
                           f"within {GATEWAY_TIMEOUT:g}s")
                self._report("GatewayUnreachable", pod, message)
                raise CniError(PLUGIN_ERROR, message)

    def _announce(self, netns: str, nic: Nic) -> None:
        """Gratuitous ARP / unsolicited NA for each new address: neighbours forget a previous holder's MAC."""
        for cidr, _ in nic.ips:
            try:
                self.probes.announce(netns, nic.name, cidr.split("/")[0])
            except Exception as error:  # noqa: BLE001 - best-effort, never fails the ADD
                if self.log is not None:
                    self.log.warning("announcing an address failed", ip=cidr, nic=nic.name, error=str(error))

    def _report(self, finding_type: str, pod: Any, message: str) -> None:
        if self.nodereport is None:
            return
        try:
            self.nodereport.report_finding(finding_type, kind="Pod", name=pod.name if pod is not None else "",
                                           namespace=pod.namespace if pod is not None else "", message=message)
        except Exception as error:  # noqa: BLE001 - a report must not change the ADD's answer
            if self.log is not None:
                self.log.warning("cannot report a finding", type=finding_type, error=str(error))

    def delete(self, body: dict) -> Reply:
        conf = body["config"]
        prev = conf.get("prevResult") if isinstance(conf.get("prevResult"), dict) else {}
        ips = [cidr.split("/")[0] for cidr, _ in _nic_ips(prev, body.get("ifName") or "")]
        table = _host_rule_table(conf, self._spec_or_empty())
        plan = plan_del(CoordinatorConfig(host_rule_table=table), container_id=body.get("containerID") or "",
                        pod_ips=ips)
        kernel.apply(plan.ops, pod_netns=None, host_netns=body["hostNetns"])
        return Reply.ok()

    def _spec_or_empty(self) -> dict:
        """SpiderCoordinator's spec for DEL, which must not fail for want of it."""
        try:
            return (self.spider_coordinator() or {}).get("spec") or {}
        except CniError:
            return {}

    def _pod(self, body: dict) -> Any:
        """The pod (PodInfo) of CNI_ARGS; None when the args name none or it cannot be read."""
        args = body.get("cniArgs") or {}
        if not args.get("K8S_POD_NAME"):
            return None
        try:
            return self.pod_of(body)
        except CniError:
            raise
        except Exception:  # noqa: BLE001 - no pod object: no annotation
            return None


def _check_environment(body: dict, command: str) -> None:
    """containerID, ifName (and ADD's netns) present and well-formed, as the IPAM path checks them; else code 4."""
    fields = {"containerID": body.get("containerID"), "ifName": body.get("ifName")}
    if command == "ADD":
        fields["netns"] = body.get("netns")
    for key, value in {**fields, "netns": body.get("netns") or ""}.items():
        if not isinstance(value, str):
            raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: the request's {key} is not a string")
    missing = [key for key, value in fields.items() if not value]
    if missing:
        raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: {command} needs {', '.join(missing)}")
    check_container_id(body["containerID"])
    check_if_name(body["ifName"])
    netns = body.get("netns") or ""
    if len(netns) > NETNS_PATH_MAX or any(c in netns for c in "\0\n") or (
            "/" in netns and (not netns.startswith("/") or "/../" in netns + "/")):
        raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: CNI_NETNS {netns[:200]!r} is not a namespace path",
                       "an absolute path without '..', or a name under /var/run/netns")


def _host_netns(body: dict, caller_pid: int) -> str | None:
    """The plugin's `/proc/<pid>/ns/net`, when it is the node's namespace or the caller's (None: the agent's own)."""
    path = body.get("hostNetns")
    if not path:
        return None
    parts = path.split("/") if isinstance(path, str) else []
    if len(parts) != 5 or parts[:2] != ["", "proc"] or not parts[2].isdigit() or parts[3:] != ["ns", "net"]:
        raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: hostNetns {path!r} is not /proc/<pid>/ns/net")
    named = netns_id(path)
    if named is None:
        raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: hostNetns {path} does not exist (no such process)")
    trusted = {netns_id(p) for p in NODE_NETNS}
    if caller_pid > 0:
        trusted.add(netns_id(f"/proc/{caller_pid}/ns/net"))
    if named not in trusted:
        raise CniError(Code.INVALID_ENVIRONMENT,
                       f"coordinator: hostNetns {path} is neither the node's network namespace nor the caller's; "
                       "refusing to touch it",
                       f"the caller is pid {caller_pid or 'unknown'}; the plugin sends its own /proc/<pid>/ns/net")
    return path


def _check_pod_netns(netns: str, host_netns: str | None) -> None:
    """The pod's namespace must not be the host side: ADD would move the node's routes as a pod's."""
    pod = netns_id(netns if "/" in netns else f"/var/run/netns/{netns}")
    if pod is not None and pod == netns_id(host_netns or NODE_NETNS[0]):
        raise CniError(Code.INVALID_ENVIRONMENT, f"coordinator: CNI_NETNS {netns} is the node's own network "
                                                 "namespace, not a pod's")


def _host_rule_table(conf: dict, spec: dict) -> int:
    """NAD > SpiderCoordinator > 500, as ADD used it."""
    for value in (conf.get("hostRuleTable"), spec.get("hostRuleTable")):
        try:
            if value not in (None, ""):
                return int(value)
        except (TypeError, ValueError):
            continue
    return DEFAULT_HOST_RULE_TABLE


def _nic_ips(prev: dict, if_name: str) -> list[tuple[str, str | None]]:
    """prevResult's addresses of `if_name` (all of them when the result names no interfaces)."""
    interfaces = prev.get("interfaces") or []
    out = []
    for ip in prev.get("ips") or []:
        index = ip.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces) and interfaces[index].get("name") != if_name:
            continue
        if ip.get("address"):
            out.append((ip["address"], ip.get("gateway")))
    return out


def _version(body: Any) -> str:
    conf = body.get("config") if isinstance(body, dict) else None
    version = conf.get("cniVersion") if isinstance(conf, dict) else None
    return version if isinstance(version, str) and version else "1.0.0"
