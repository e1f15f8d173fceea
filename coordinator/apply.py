"""The coordinator's only netlink code: read a namespace's state, apply a plan's operations.

Why it exists: planning is pure (`coordinator/plan.py`); this adapter turns the
kernel into `PodState`/`HostState` values and `Op`s back into netlink requests with
pyroute2, whose exceptions stop here (`ApplyError`). A namespace's netlink socket
is opened by `netns.in_netns` there (a socket stays bound to the namespace it was
born in).

Every operation is idempotent: routes and neighbours use `replace`, rules (and the
pod's iptables mangle rules, run as `iptables`/`ip6tables` inside the pod's namespace:
netfilter has no netlink API pyroute2 speaks) are added only when absent, deletions
ignore "not there". So a retried ADD or DEL converges.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
import subprocess
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .netns import in_netns
from .plan import MAIN, HostState, Link, Op, PodState, RouteEntry

NETLINK_ROUTE = 0
SCOPES = {"universe": 0, "link": 253, "host": 254}
IFF_UP = 1
GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL)
IPTABLES = {"4": "iptables", "6": "ip6tables"}
IPTABLES_TIMEOUT = 20.0  # seconds; `-w` waits for the xtables lock meanwhile


class ApplyError(Exception):
    """A kernel change failed; the message names the operation."""


def open_iproute(path: str | None) -> IPRoute:
    """IPRoute on a netlink socket born in the namespace at `path` (pyroute2 opens its own lazily, elsewhere)."""
    if path is None:
        return IPRoute()
    fd = in_netns(path, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE).detach())
    return IPRoute(fileno=fd)


@contextmanager
def netlink(path: str | None) -> Iterator[IPRoute]:
    """An IPRoute socket bound to the namespace at `path`; FileNotFoundError if it does not exist."""
    ipr = open_iproute(path)
    try:
        yield ipr
    finally:
        ipr.close()


# -- reading ----------------------------------------------------------------------------------------

def read_links(ipr: IPRoute) -> tuple[Link, ...]:
    addresses: dict[int, list[str]] = {}
    for msg in ipr.get_addr():
        if msg["scope"] == 0:
            addresses.setdefault(msg["index"], []).append(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
    links = []
    for msg in ipr.get_links():
        links.append(Link(name=msg.get_attr("IFLA_IFNAME"), index=msg["index"], mac=msg.get_attr("IFLA_ADDRESS") or "",
                          up=bool(msg["flags"] & IFF_UP), peer_index=msg.get_attr("IFLA_LINK"),
                          addresses=tuple(addresses.get(msg["index"], ()))))
    return tuple(links)


def read_routes(ipr: IPRoute, links: tuple[Link, ...], *, table: int = MAIN) -> tuple[RouteEntry, ...]:
    names = {link.index: link.name for link in links}
    out = []
    for family in (2, 10):
        for msg in ipr.get_routes(family=family, table=table):
            if msg["type"] != 1:  # unicast only
                continue
            dst = msg.get_attr("RTA_DST")
            dst = str(ipaddress.ip_network("%s/%d" % (dst, msg["dst_len"]))) if dst else "default"
            if dst.startswith("fe80:") or msg.get_attr("RTA_TABLE", msg["table"]) != table:
                continue
            scope = {253: "link", 254: "host"}.get(msg["scope"], "universe")
            # IPv6 merges same-metric defaults of two NICs into one multipath route: one entry per nexthop
            hops = [(nh["oif"], nh.get_attr("RTA_GATEWAY")) for nh in msg.get_attr("RTA_MULTIPATH") or ()] \
                or [(msg.get_attr("RTA_OIF"), msg.get_attr("RTA_GATEWAY"))]
            out += [RouteEntry(dst=dst, dev=names.get(oif, ""), gw=gw, src=msg.get_attr("RTA_PREFSRC"), scope=scope,
                               table=table) for oif, gw in hops]
    return tuple(out)


def read_pod(ipr: IPRoute) -> PodState:
    links = read_links(ipr)
    return PodState(links=links, routes=read_routes(ipr, links))


def read_host(ipr: IPRoute, pod_ips: list[str]) -> HostState:
    sources = []
    for ip in pod_ips:
        try:
            for msg in ipr.route("get", dst=ip):
                if msg.get_attr("RTA_PREFSRC"):
                    sources.append(msg.get_attr("RTA_PREFSRC"))
        except NetlinkError:
            pass  # unreachable from the node: no source to add
    return HostState(links=read_links(ipr), route_src=tuple(sources))


def read_networks(ipr: IPRoute) -> tuple[frozenset[str], tuple[str, ...]]:
    """(the namespace's interface names, the CIDRs it reaches directly): each address with its prefix
    (not scope host) and each non-default unicast route of every table, as `ip -j addr` / `route show
    table all` list them (the node agent's NodeReports)."""
    names = frozenset(msg.get_attr("IFLA_IFNAME") or "" for msg in ipr.get_links())
    networks = [f"{msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}"
                for msg in ipr.get_addr() if msg["scope"] != SCOPES["host"]
                and (msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"))]
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.route("dump", family=family):
            dst = msg.get_attr("RTA_DST")
            if dst and msg["type"] == 1:  # unicast, and not a default route (those have no RTA_DST)
                networks.append(f"{dst}/{msg['dst_len']}")
    return names, tuple(networks)


def read_own_networks() -> tuple[frozenset[str], tuple[str, ...]]:
    """`read_networks` of the caller's namespace; nothing when netlink cannot be read."""
    try:
        with netlink(None) as ipr:
            return read_networks(ipr)
    except (NetlinkError, OSError):
        return frozenset(), ()


# -- applying ----------------------------------------------------------------------------------------

def apply(ops: tuple[Op, ...] | list[Op], *, pod_netns: str | None, host_netns: str | None,
          sockets: dict[str, IPRoute] | None = None) -> None:
    """Apply `ops` in order: "pod" ones in `pod_netns`, "host" ones in `host_netns` (None: the agent's own).

    `sockets` ("pod"/"host" -> IPRoute already open there) are used and left open; others are opened and closed.
    """
    if not ops:
        return
    given = dict(sockets or {})
    sockets = dict(given)
    try:
        for op in ops:
            path = pod_netns if op.where == "pod" else host_netns
            if op.kind == "sysctl":
                try:
                    in_netns(path, lambda op=op: _write_sysctl(op.key, op.value))
                except OSError as exc:
                    raise ApplyError(f"coordinator: {describe(op)}: {exc.strerror or exc}") from None
                continue
            if op.kind == "iptables":
                in_netns(path, lambda op=op: _ensure_iptables(op))
                continue
            if op.where not in sockets:
                sockets[op.where] = open_iproute(path)
            try:
                HANDLERS[op.kind](sockets[op.where], op, host_netns=host_netns)
            except NetlinkError as exc:
                raise ApplyError(f"coordinator: {describe(op)}: {os.strerror(exc.code)}") from None
    finally:
        for where, ipr in sockets.items():
            if where not in given:
                ipr.close()


def describe(op: Op) -> str:
    fields = [f"{k}={v}" for k, v in (("dev", op.dev), ("dst", op.dst), ("gw", op.gw), ("src", op.src),
                                      ("table", op.table if op.kind.startswith(("route", "rule")) else None),
                                      ("mac", op.mac), ("fwmark", op.mark and hex(op.mark)),
                                      ("sysctl", op.key if op.kind == "sysctl" else None),
                                      ("rules", "; ".join(op.args))) if v]
    return f"{op.kind} in {op.where} ({' '.join(fields)})"


_INDEXES: "weakref.WeakKeyDictionary[IPRoute, dict[str, int]]" = weakref.WeakKeyDictionary()


def _index(ipr: IPRoute, name: str) -> int:
    """ifindex by name, from one link dump per socket (a lookup per operation costs ~1 ms each)."""
    names = _INDEXES.get(ipr)
    if names is None or name not in names:
        names = _INDEXES[ipr] = {msg.get_attr("IFLA_IFNAME"): msg["index"] for msg in ipr.get_links()}
    if name not in names:
        raise NetlinkError(errno.ENODEV)
    return names[name]


def _link_set(ipr: IPRoute, op: Op, **_: Any) -> None:
    index = _index(ipr, op.dev)
    if op.mac:
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, address=op.mac)
    if op.value:
        ipr.link("set", index=index, txqlen=op.value)
    ipr.link("set", index=index, state="up")


def _veth_add(ipr: IPRoute, op: Op, *, host_netns: str | None) -> None:
    if not ipr.link_lookup(ifname=op.dev):
        ipr.link("add", ifname=op.dev, kind="veth", address=op.mac, mtu=op.value,
                 peer={"ifname": op.peer, "address": op.peer_mac, "mtu": op.value})
        peer = _index(ipr, op.peer)
        fd = os.open(host_netns or "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("set", index=peer, net_ns_fd=fd)
        finally:
            os.close(fd)
        with netlink(host_netns) as host:
            host.link("set", index=_index(host, op.peer), state="up")
    ipr.link("set", index=_index(ipr, op.dev), state="up")


def _route_args(ipr: IPRoute, op: Op) -> dict[str, Any]:
    args: dict[str, Any] = {"dst": op.dst if op.dst != "default" else ("::/0" if op.gw and ":" in op.gw else "0.0.0.0/0"),
                            "table": op.table}
    if ":" in args["dst"]:
        args["family"] = 10
    if op.dev:
        args["oif"] = _index(ipr, op.dev) if op.kind != "route_del" else (ipr.link_lookup(ifname=op.dev) or [0])[0]
    if op.gw:
        args["gateway"] = op.gw
    if op.src:
        args["prefsrc"] = op.src
    return args


def _route_add(ipr: IPRoute, op: Op, **_: Any) -> None:
    ipr.route("replace", scope=SCOPES[op.scope], **_route_args(ipr, op))


def _route_del(ipr: IPRoute, op: Op, **_: Any) -> None:
    try:
        ipr.route("del", scope=SCOPES[op.scope], **_route_args(ipr, op))
    except NetlinkError as exc:
        if exc.code not in GONE:
            raise


def _rule_match(op: Op) -> dict[str, Any]:
    family = 10 if ":" in (op.src or op.dst) else 2
    args: dict[str, Any] = {"family": family, "table": op.table}
    if op.mark is not None:
        args.update(fwmark=op.mark, fwmask=0xFFFFFFFF)
    if op.src:
        ip, _, length = op.src.partition("/")
        args.update(src=ip, src_len=int(length))
    elif op.dst and not op.dst.endswith("/0"):
        ip, _, length = op.dst.partition("/")
        args.update(dst=ip, dst_len=int(length))
    if op.priority is not None:
        args["priority"] = op.priority
    return args


def _rule_exists(ipr: IPRoute, args: dict[str, Any]) -> bool:
    for rule in ipr.get_rules(family=args["family"]):
        table = rule.get_attr("FRA_TABLE") or rule["table"]
        if table != args["table"] or rule.get_attr("FRA_SRC") != args.get("src") \
                or rule.get_attr("FRA_DST") != args.get("dst") or rule.get_attr("FRA_FWMARK") != args.get("fwmark"):
            continue
        if args.get("priority") is None or rule.get_attr("FRA_PRIORITY") == args["priority"]:
            return True
    return False


def _rule_add(ipr: IPRoute, op: Op, **_: Any) -> None:
    args = _rule_match(op)
    if not _rule_exists(ipr, args):
        ipr.rule("add", **args)


def _rule_del(ipr: IPRoute, op: Op, **_: Any) -> None:
    args = _rule_match(op)
    while _rule_exists(ipr, args):
        ipr.rule("del", **args)


def _neigh_add(ipr: IPRoute, op: Op, **_: Any) -> None:
    ipr.neigh("replace", dst=op.dst, lladdr=op.mac, ifindex=_index(ipr, op.dev), state="permanent",
              family=10 if ":" in op.dst else 2)


def _link_del(ipr: IPRoute, op: Op, **_: Any) -> None:
    found = ipr.link_lookup(ifname=op.dev)
    if found:
        try:
            ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code not in GONE:
                raise


def _addr_add(ipr: IPRoute, op: Op, **_: Any) -> None:
    ip, _, length = op.dst.partition("/")
    try:
        ipr.addr("add", index=_index(ipr, op.dev), address=ip, prefixlen=int(length),
                 family=10 if ":" in ip else 2)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _ensure_iptables(op: Op) -> None:
    """The mangle rules of `op` that `iptables -S` does not list yet, appended in one `iptables-restore
    --noflush`: two execs per family, in the calling thread's namespace (the children inherit it)."""
    name = IPTABLES[op.key]
    listed = _run_iptables([name, "-w", "-t", "mangle", "-S"], name)
    present = [line for line in listed.splitlines() if line.startswith("-A ")]
    missing = [rule for rule in op.args if not any(line == f"-A {rule}" or line.startswith(f"-A {rule} ")
                                                   for line in present)]
    if missing:
        table = "*mangle\n" + "".join(f"-A {rule}\n" for rule in missing) + "COMMIT\n"
        _run_iptables([f"{name}-restore", "-w", "--noflush"], name, stdin=table)


def _run_iptables(argv: list[str], name: str, *, stdin: str | None = None) -> str:
    binary = shutil.which(argv[0])
    if binary is None:
        raise ApplyError(f"coordinator: {argv[0]} is not installed where the agent runs; underlay pods need "
                         f"{name} to answer connections from the node through veth0 (mangle CONNMARK)")
    try:
        proc = subprocess.run([binary, *argv[1:]], input=stdin, capture_output=True, text=True,
                              timeout=IPTABLES_TIMEOUT, stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ApplyError(f"coordinator: {' '.join(argv)}: no answer within {IPTABLES_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        rules = f" (rules: {stdin!r})" if stdin else ""
        raise ApplyError(f"coordinator: {' '.join(argv)} in the pod: {proc.stderr.strip() or f'exit {proc.returncode}'}"
                         + rules)
    return proc.stdout


def _write_sysctl(key: str, value: Any) -> None:
    with open(f"/proc/sys/{key}", "w") as out:
        out.write(f"{value}\n")


HANDLERS: dict[str, Callable[..., None]] = {
    "link_set": _link_set, "veth_add": _veth_add, "route_add": _route_add, "route_del": _route_del,
    "rule_add": _rule_add, "rule_del": _rule_del, "neigh_add": _neigh_add, "link_del": _link_del,
    "addr_add": _addr_add,
}
