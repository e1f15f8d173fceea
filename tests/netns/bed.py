"""A namespace "cluster" for data-plane tests: an L2 switch, nodes, an API server, agents, pods.

Why it exists: the IPAM plugin and the coordinator only mean something when a
real main plugin (Debian's macvlan) calls them, inside a node, for a pod whose
object the agent can see. `Bed` builds that out of network namespaces and runs
the CNI chain as the kubelet's runtime would, so a test reads like a cluster
operator's session and then checks the kernel:

    with Bed() as bed:
        switch = bed.add_switch()
        bed.add_router(addresses=["10.6.0.1/16"])                    # the pools' gateway
        node1 = bed.add_node("node1", address="10.6.0.11/16", labels={"node-subnet": "subnet-6"})
        bed.install_plugins()                                        # CNI_PATH: Debian's + ours
        bed.apply(spec_dir)                                          # `spiderpool apply` to the API server
        bed.start_agents()                                           # `spiderpool agent`, one per node
        pod = bed.run_pod(node1, "web-0", network=bed.network("kube-system/macvlan-ens192"))
        bed.cidrs(pod), bed.routes(pod), bed.ping(pod, "10.6.0.1")
        bed.delete_pod(pod)

Topology: every link lives in a namespace the bed made (the switch's bridge, each
node's `ens192`, the router's legs, the pods' interfaces), so nothing touches the
host's network and interface names never collide between runs. Namespace and
work-dir names start with `PREFIX` + the owning pid; a new bed first sweeps those
of dead pids (a crashed run). `close()` removes everything and stops the agents,
whatever state a test left; the agents also die with the test process.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import kernel
from .agents import AgentProcess, wait_ready
from .cluster import Cluster
from .runtime import Attachment, CniFailure, Network, Runtime, pod_cni_args

PREFIX = "spnb"  # spiderpool netns bed
NAME_PATTERN = re.compile(rf"^{PREFIX}(\d+)-")
WORK_ROOT = Path(tempfile.gettempdir())  # short: unix socket paths are limited to 107 bytes
REFERENCE_PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
REPO = Path(__file__).resolve().parents[2]
ICMP = Path(__file__).with_name("icmp.py")
AGENT_READY_SECONDS = 30.0


def reference_plugin_dir() -> Path | None:
    """Where Debian's containernetworking-plugins are (the directory holding `macvlan`)."""
    return next((Path(d) for d in REFERENCE_PLUGIN_DIRS if (Path(d) / "macvlan").exists()), None)


@dataclass
class Switch:
    name: str
    netns: str
    bridge: str = "br0"
    ports: int = 0

    def next_port(self) -> str:
        self.ports += 1
        return f"port{self.ports}"


@dataclass
class Node:
    name: str
    netns: str
    address: str  # "10.6.0.11/16" on the master interface
    labels: dict[str, str]
    master: str
    socket: str  # the agent's unix socket (a filesystem path: reachable from any namespace)
    runtime: Runtime
    agent: AgentProcess | None = None


@dataclass
class Pod:
    name: str
    namespace: str
    uid: str
    node: Node
    netns: str
    network: Network
    attachment: Attachment
    delegated: bool = False  # its IPAM was called directly (`Bed.delegate_ipam`), not through the chain

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def container_id(self) -> str:
        return self.attachment.container_id

    @property
    def ifname(self) -> str:
        return self.attachment.ifname

    @property
    def result(self) -> dict[str, Any] | None:
        """The final ADD result the runtime cached (None after DEL)."""
        return self.attachment.result

    def cidrs(self) -> list[str]:
        return [ip["address"] for ip in (self.result or {}).get("ips", ())]

    @property
    def ip(self) -> str:
        """The first address of the result, without its prefix."""
        return self.cidrs()[0].split("/")[0]


class Bed:
    def __init__(self, *, cluster: bool = True, server=None):
        kernel.sweep(NAME_PATTERN, workdirs=WORK_ROOT)
        self.id = f"{PREFIX}{os.getpid()}-{secrets.token_hex(2)}"
        self.workdir = Path(tempfile.mkdtemp(prefix=self.id + "-", dir=WORK_ROOT))
        self.cni_bin = self.workdir / "bin"
        self.switches: dict[str, Switch] = {}
        self.nodes: dict[str, Node] = {}
        self.routers: list[str] = []
        self.pods: list[Pod] = []
        self._pod_count = 0
        try:
            self.cluster = Cluster(self.workdir, server) if cluster else None
        except BaseException:
            subprocess.run(["rm", "-rf", str(self.workdir)], check=False)
            raise

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Bed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the agents, remove every namespace and the work dir, stop the API server."""
        steps: list[Callable[[], None]] = [self.stop_agents]
        steps += [lambda p=p: kernel.delete_netns(p.netns) for p in self.pods]
        steps += [lambda n=n: kernel.delete_netns(n.netns) for n in self.nodes.values()]
        steps += [lambda r=r: kernel.delete_netns(r) for r in self.routers]
        steps += [lambda s=s: kernel.delete_netns(s.netns) for s in self.switches.values()]
        steps += [lambda n=n: kernel.delete_netns(n) for n in kernel.list_netns() if n.startswith(self.id + "-")]
        steps += [lambda: self.cluster and self.cluster.stop(),
                  lambda: subprocess.run(["rm", "-rf", str(self.workdir)], check=False)]
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning; report at the end
                errors.append(exc)
        if errors:
            raise RuntimeError(f"test bed clean-up: {errors}")

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    # -- topology --------------------------------------------------------------------------------

    def _netns(self, role: str) -> str:
        name = f"{self.id}-{role}"
        kernel.add_netns(name)
        return name

    def add_switch(self, name: str = "sw") -> Switch:
        """An L2 segment: a bridge alone in its namespace."""
        switch = Switch(name, self._netns(name))
        kernel.add_bridge(switch.bridge, switch.netns)
        self.switches[name] = switch
        return switch

    def _switch(self, switch: Switch | str | None) -> Switch:
        if isinstance(switch, Switch):
            return switch
        if switch is None:
            if not self.switches:
                return self.add_switch()
            return next(iter(self.switches.values()))
        return self.switches[switch]

    def _plug(self, dev: str, netns: str, switch: Switch) -> None:
        port = switch.next_port()
        kernel.add_veth(dev, netns, peer=port, peer_netns=switch.netns)
        kernel.enslave(port, switch.bridge, switch.netns)

    def add_node(self, name: str, *, address: str, labels: Mapping[str, str] | None = None,
                 switch: Switch | str | None = None, master: str = "ens192") -> Node:
        """A node: a namespace whose `master` (a veth into the switch) holds `address`; its Node object."""
        netns = self._netns(name)
        self._plug(master, netns, self._switch(switch))
        kernel.add_address(master, address, netns)
        kernel.set_up(master, netns)
        sock = str(self.workdir / f"{name}.sock")
        runtime = Runtime(netns=netns, cni_path=[str(self.cni_bin)], env={"SPIDERPOOL_SOCKET": sock})
        node = Node(name, netns, address, {"kubernetes.io/hostname": name, **(labels or {})}, master, sock, runtime)
        self.nodes[name] = node
        if self.cluster is not None:
            self.cluster.add_node(name, node.labels)
        return node

    def add_router(self, name: str = "router", *, addresses: Sequence[str], switch: Switch | str | None = None,
                   dev: str = "eth0") -> str:
        """A namespace on the switch holding `addresses` (the pools' gateways) and forwarding between them."""
        netns = self._netns(name)
        self.routers.append(netns)
        self._plug(dev, netns, self._switch(switch))
        for cidr in addresses:
            kernel.add_address(dev, cidr, netns)
        kernel.set_up(dev, netns)
        kernel.write_sysctl(netns, "net.ipv4.ip_forward", "1")
        for scope in ("all", "default", dev):  # one leg serves every subnet: redirects would only confuse
            kernel.write_sysctl(netns, f"net.ipv4.conf.{scope}.send_redirects", "0")
        return netns

    def node(self, node: Node | str) -> Node:
        return node if isinstance(node, Node) else self.nodes[node]

    # -- plugins and agents ----------------------------------------------------------------------

    def install_plugins(self, *, reference_dir: Path | None = None) -> Path:
        """CNI_PATH: links to Debian's plugins plus ours, written by `spiderpool install-cni`."""
        reference_dir = reference_dir or reference_plugin_dir()
        if reference_dir is None:
            raise FileNotFoundError(f"no reference CNI plugins in {REFERENCE_PLUGIN_DIRS}")
        self.cni_bin.mkdir(exist_ok=True)
        for plugin in sorted(reference_dir.iterdir()):
            target = self.cni_bin / plugin.name
            if not target.exists():
                target.symlink_to(plugin)
        proc = subprocess.run([sys.executable, "-m", "reconciler", "install-cni", "--dest", str(self.cni_bin)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"spiderpool install-cni failed: {proc.stderr.strip()}")
        return self.cni_bin

    def agent_argv(self, node: Node) -> list[str]:
        """`spiderpool agent` for `node`, as a DaemonSet would run it."""
        return [sys.executable, "-m", "reconciler", "agent", "--node", node.name, "--socket", node.socket,
                "--kubeconfig", str(self.kubeconfig)]

    def start_agents(self, *, argv: Callable[[Node], list[str]] | None = None,
                     timeout: float = AGENT_READY_SECONDS) -> None:
        """One agent per node (in the host namespace), then wait until every one answers /readyz 200."""
        for node in self.nodes.values():
            if node.agent is None:
                node.agent = AgentProcess((argv or self.agent_argv)(node), socket_path=node.socket,
                                          log=self.workdir / f"agent-{node.name}.log", pidfile=self.workdir / "pids")
        wait_ready({n.name: n.agent for n in self.nodes.values()}, timeout=timeout)

    def stop_agent(self, node: Node | str) -> None:
        node = self.node(node)
        if node.agent is not None:
            node.agent.stop()
            node.agent = None

    def stop_agents(self) -> None:
        for node in self.nodes.values():
            self.stop_agent(node)

    def agent_log(self, node: Node | str, *, tail: int = 40) -> str:
        node = self.node(node)
        text = node.agent.tail(tail) if node.agent is not None else "(no agent running)"
        return f"--- agent {node.name} ---\n{text}"

    # -- the cluster ---------------------------------------------------------------------------------

    def apply(self, spec: str | os.PathLike) -> str:
        """`spiderpool apply SPEC` against the bed's API server -> its output."""
        return self.cluster.apply(spec)

    def network(self, ref: str) -> Network:
        """The network of the NetworkAttachmentDefinition `namespace/name`, as Multus reads it."""
        return Network.parse(self.cluster.nad_config(ref))

    def allocations(self, pool: str) -> dict[str, dict[str, Any]]:
        return self.cluster.allocations(pool)

    def records_of(self, pod: Pod) -> dict[str, str]:
        """Every IP any pool holds for this pod (by uid or by name): ip -> pool."""
        return self.cluster.records_of(uid=pod.uid, key=pod.key)

    def endpoint(self, pod: Pod) -> dict[str, Any] | None:
        return self.cluster.endpoint(pod.name, pod.namespace)

    # -- the kubelet stand-in ----------------------------------------------------------------------

    def prepare_pod(self, node: Node | str, name: str, *, network: Network | Mapping[str, Any] | str,
                    namespace: str = "default", annotations: Mapping[str, str] | None = None,
                    labels: Mapping[str, str] | None = None, ifname: str = "eth0") -> Pod:
        """The Pod object (bound to `node`) and its sandbox namespace, before any CNI call."""
        node = self.node(node)
        network = network if isinstance(network, Network) else Network.parse(network)
        uid = str(uuid.uuid4())  # a bed without an API server: the pod exists only for the runtime
        if self.cluster is not None:
            uid = self.cluster.create_pod(name=name, namespace=namespace, node=node.name, annotations=annotations,
                                          labels=labels)
        pod = Pod(name, namespace, uid, node, "", network, Attachment("", ifname, "", ()))
        self._new_sandbox(pod)
        self.pods.append(pod)
        return pod

    def _new_sandbox(self, pod: Pod) -> None:
        self._pod_count += 1
        pod.netns = self._netns(f"p{self._pod_count}")
        container_id = secrets.token_hex(32)
        pod.attachment = Attachment(container_id, pod.ifname, str(kernel.NETNS_DIR / pod.netns), pod_cni_args(
            namespace=pod.namespace, name=pod.name, container_id=container_id, uid=pod.uid))

    def run_pod(self, node: Node | str, name: str, *, network: Network | Mapping[str, Any] | str,
                namespace: str = "default", annotations: Mapping[str, str] | None = None,
                labels: Mapping[str, str] | None = None, ifname: str = "eth0",
                capability_args: Mapping[str, Any] | None = None) -> Pod:
        """Create the Pod object and its sandbox, then ADD the network as the runtime does -> the Pod.

        On a plugin failure the CniFailure is raised with `.pod` set; the pod stays known to
        the bed (its sandbox "exists"), so `delete_pod` still runs DEL for it, as a runtime must.
        """
        pod = self.prepare_pod(node, name, network=network, namespace=namespace, annotations=annotations,
                               labels=labels, ifname=ifname)
        self._add(pod, capability_args)
        return pod

    def _add(self, pod: Pod, capability_args: Mapping[str, Any] | None = None) -> None:
        try:
            pod.node.runtime.add(pod.network, pod.attachment, capability_args=capability_args)
        except CniFailure as failure:
            failure.pod = pod
            raise

    def check_pod(self, pod: Pod) -> None:
        """CHECK the pod's network with its cached result (CniFailure if a plugin objects)."""
        pod.node.runtime.check(pod.network, pod.attachment)

    def cni_del(self, pod: Pod) -> None:
        """One DEL of the pod's network as the runtime runs it (reverse order, cached result if any)."""
        if pod.delegated:
            self.delegate_ipam(pod.node, "DEL", pod.network, pod=pod)
        else:
            pod.node.runtime.delete(pod.network, pod.attachment)

    def terminate_pod(self, pod: Pod) -> None:
        """`kubectl delete pod`: the object is terminating; the sandbox is untouched so far."""
        if self.cluster is not None:
            self.cluster.terminate_pod(pod.name, pod.namespace)

    def delete_pod(self, pod: Pod) -> None:
        """The whole deletion, in the kubelet's order: terminating, CNI DEL, sandbox removed, object gone.

        Calling it again runs DEL again, without a cached result and without CNI_NETNS
        (the namespace is gone), as a runtime retrying a teardown does.
        """
        self.terminate_pod(pod)
        self.cni_del(pod)
        kernel.delete_netns(pod.netns)
        if self.cluster is not None:
            self.cluster.finalize_pod(pod.name, pod.namespace)

    def restart_sandbox(self, pod: Pod) -> Pod:
        """The pod's sandbox dies and is re-created (the pod object lives on): DEL, new netns and container, ADD."""
        self.cni_del(pod)
        kernel.delete_netns(pod.netns)
        self._new_sandbox(pod)
        self._add(pod)
        return pod

    def abandon_pod(self, pod: Pod, *, delete_object: bool = True) -> None:
        """The sandbox vanishes without a DEL (a node rebooted, the runtime lost its cache): only GC can clean up.

        With `delete_object` the Pod object goes too (force-deleted); else it is left as it is.
        """
        pod.attachment.result = None
        kernel.delete_netns(pod.netns)
        if delete_object and self.cluster is not None:
            self.cluster.finalize_pod(pod.name, pod.namespace)

    def delete_all_pods(self) -> list[Exception]:
        """Tear down every pod still known (for finalizers; DEL is idempotent) -> what went wrong."""
        errors = []
        for pod in reversed(self.pods):
            try:
                if pod.result is not None or kernel.netns_exists(pod.netns):
                    self.delete_pod(pod)
                elif self.cluster is not None:
                    self.cluster.finalize_pod(pod.name, pod.namespace)
            except Exception as exc:
                errors.append(exc)
        self.pods.clear()
        return errors

    def gc(self, node: Node | str, network: Network, *, valid: Iterable[Pod] | None = None) -> None:
        """GC as libcni does it on `node`: `valid` defaults to the node's pods that still have a result."""
        node = self.node(node)
        on_node = [p for p in self.pods if p.node is node and p.network.name == network.name]
        valid = [p for p in on_node if p.result is not None] if valid is None else list(valid)
        node.runtime.gc(network, valid=[(p.container_id, p.ifname) for p in valid],
                        cached=[p.attachment for p in on_node])

    def status(self, node: Node | str, network: Network, *, env: Mapping[str, str] | None = None) -> None:
        """STATUS as libcni does it on `node` (extra `env`, e.g. another SPIDERPOOL_SOCKET)."""
        node = self.node(node)
        runtime = node.runtime if not env else Runtime(netns=node.netns, cni_path=node.runtime.cni_path,
                                                       env={**node.runtime.env, **env})
        runtime.status(network)

    def delegate_ipam(self, node: Node | str, command: str, network: Network, *, pod: Pod | None = None,
                      extra: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Any:
        """Run the first plugin's IPAM as that main plugin delegates to it: same env, its whole config.

        For verbs the reference main plugin cannot pass on (Debian's macvlan speaks CNI up to
        1.0.0, so no GC/STATUS): this is the exact call a 1.1.0 macvlan makes.
        """
        node = self.node(node)
        runtime = node.runtime if not env else Runtime(netns=node.netns, cni_path=node.runtime.cni_path,
                                                       env={**node.runtime.env, **env})
        main = network.plugins[0]
        conf = runtime.plugin_config(network, main, prev_result=pod.result if pod and command != "ADD" else None)
        conf.update(extra or {})
        result = runtime.invoke(command, conf, pod.attachment if pod else None, plugin_type=main["ipam"]["type"])
        if pod is not None and command == "ADD":
            pod.attachment.network, pod.attachment.result, pod.delegated = network.name, result, True
        elif pod is not None and command == "DEL":
            pod.attachment.result = None
        return result

    # -- reading the kernel back ---------------------------------------------------------------------

    @staticmethod
    def _ns(target: Pod | Node | str) -> str:
        return target.netns if isinstance(target, (Pod, Node)) else target

    def links(self, target: Pod | Node | str) -> list[str]:
        return kernel.link_names(self._ns(target))

    def cidrs(self, target: Pod | Node | str, dev: str | None = None, *, family: int | None = None) -> list[str]:
        if dev is None:
            dev = target.ifname if isinstance(target, Pod) else target.master if isinstance(target, Node) else None
        return kernel.cidrs(self._ns(target), dev, family=family)

    def addresses(self, target: Pod | Node | str, dev: str | None = None) -> list[dict[str, Any]]:
        return kernel.addresses(self._ns(target), dev)

    def routes(self, target: Pod | Node | str, *, family: int = 4, table: str = "main") -> list[dict[str, Any]]:
        return kernel.routes(self._ns(target), family=family, table=table)

    def rules(self, target: Pod | Node | str, *, family: int = 4) -> list[dict[str, Any]]:
        return kernel.rules(self._ns(target), family=family)

    def ping(self, source: Pod | Node | str, target: str, *, count: int = 1, timeout: float = 1.0) -> dict[str, Any]:
        """ICMP echo from inside `source`'s namespace -> {"sent", "received", "ttls"}; bounded by count*timeout."""
        proc = kernel.exec_in(self._ns(source), [sys.executable, "-I", str(ICMP), target, "--count", str(count),
                                                 "--timeout", str(timeout)], timeout=count * timeout + 10)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise RuntimeError(f"ping {target} from {self._ns(source)}: {proc.stderr.decode().strip()}") from None


__all__ = ["Bed", "Node", "Pod", "Switch", "CniFailure", "Network", "reference_plugin_dir", "PREFIX"]
