"""Link-layer probes inside a pod's network namespace: IP conflicts, gateway reachability, announcements.

Why it exists: the coordinator (`detectIPConflict`, `detectGateway`, and the gratuitous ARP /
unsolicited NA after ADD, reference §6) must ask the link itself, not the kernel's neighbour
cache, and must do so inside the pod's namespace and within a time bound. This module builds and
parses the frames itself over an AF_PACKET socket (stdlib only):

    probe_ip_conflict(netns, ifname, ip, *, timeout) -> the MAC of another holder of `ip`, or None
        IPv4: an ARP probe (RFC 5227: sender 0.0.0.0); IPv6: a DAD neighbour solicitation
        (source ::, to the solicited-node group). Any answer naming `ip` from another MAC is a conflict.
    probe_gateway(netns, ifname, gateway, *, timeout) -> bool
        IPv4: an ARP request; IPv6: a neighbour solicitation; True once the gateway answers.
    announce(netns, ifname, ip)
        IPv4: a gratuitous ARP; IPv6: an unsolicited neighbour advertisement to ff02::1.

`netns` is a path (/var/run/netns/x, /proc/PID/ns/net), a name under /var/run/netns, or None for
the caller's namespace. The work runs in a short-lived thread that enters the namespace
(setns(2) is per thread), so the caller's own namespace is never changed. Errors (no such
namespace or interface, no permission) are `ProbeError`.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time
from typing import Callable, TypeVar

from .netns import in_netns as _in_netns
from .netns import netns_path

T = TypeVar("T")

ETH_P_ARP, ETH_P_IPV6 = 0x0806, 0x86DD
BROADCAST = b"\xff" * 6
ICMPV6_NS, ICMPV6_NA = 135, 136
RETRIES = 3  # requests sent within one timeout


class ProbeError(Exception):
    """A probe could not run (namespace, interface or socket); never 'no answer'."""


# -- running inside a namespace -------------------------------------------------------------------

def in_netns(netns: str | None, work: Callable[[], T]) -> T:
    """`work()` inside `netns` (see `coordinator.netns`); an OSError there is a ProbeError."""
    path = netns_path(netns)
    if path is None:
        return work()
    try:
        return _in_netns(path, work)
    except OSError as error:
        raise ProbeError(f"{path}: {error}") from None


# -- public probes --------------------------------------------------------------------------------

def probe_ip_conflict(netns: str | None, ifname: str, ip: str, *, timeout: float = 1.0) -> str | None:
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return in_netns(netns, lambda: _arp_exchange(ifname, address, timeout, probe=True))
    return in_netns(netns, lambda: _ndp_exchange(ifname, address, timeout, conflict=True))


def probe_gateway(netns: str | None, ifname: str, gateway: str, *, timeout: float = 1.0) -> bool:
    address = ipaddress.ip_address(gateway)
    if address.version == 4:
        return in_netns(netns, lambda: _arp_exchange(ifname, address, timeout, probe=False)) is not None
    return in_netns(netns, lambda: _ndp_exchange(ifname, address, timeout, conflict=False)) is not None


def announce(netns: str | None, ifname: str, ip: str) -> None:
    address = ipaddress.ip_address(ip)
    in_netns(netns, lambda: _announce(ifname, address))


def format_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


# -- IPv4: ARP ------------------------------------------------------------------------------------

def _arp(op: int, src_mac: bytes, src_ip: bytes, dst_mac: bytes, dst_ip: bytes, eth_dst: bytes) -> bytes:
    header = eth_dst + src_mac + struct.pack("!H", ETH_P_ARP)
    return header + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op,
                                src_mac, src_ip, dst_mac, dst_ip)


def _open(ifname: str, proto: int) -> tuple[socket.socket, bytes]:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        sock.bind((ifname, proto))
    except OSError as error:
        raise ProbeError(f"cannot open a raw socket on {ifname}: {error}") from None
    return sock, sock.getsockname()[4][:6]


def _ipv4_of(sock: socket.socket, ifname: str) -> bytes:
    import fcntl

    try:
        answer = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", ifname.encode()[:15]))  # SIOCGIFADDR
        return answer[20:24]
    except OSError:
        return b"\0\0\0\0"


def _arp_exchange(ifname: str, target: ipaddress.IPv4Address, timeout: float, *, probe: bool) -> str | None:
    """An ARP probe (sender 0.0.0.0) or request (sender: the interface's address); -> the answering MAC."""
    sock, mac = _open(ifname, ETH_P_ARP)
    with sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as helper:
        src_ip = b"\0\0\0\0" if probe else _ipv4_of(helper, ifname)
        request = _arp(1, mac, src_ip, b"\0" * 6, target.packed, BROADCAST)

        def answer(frame: bytes) -> str | None:
            if len(frame) < 42 or frame[12:14] != b"\x08\x06":
                return None
            sender_mac, sender_ip = frame[22:28], frame[28:32]
            return format_mac(sender_mac) if sender_ip == target.packed and sender_mac != mac else None

        return _exchange(sock, request, answer, timeout)


def _exchange(sock: socket.socket, request: bytes, answer: Callable[[bytes], str | None], timeout: float) -> str | None:
    """Send `request` RETRIES times within `timeout`; -> the first answer() that is not None."""
    deadline = time.monotonic() + timeout
    next_send = 0.0
    while True:
        now = time.monotonic()
        if now >= deadline:
            return None
        if now >= next_send:
            sock.send(request)
            next_send = now + timeout / RETRIES
        ready, _, _ = select.select([sock], [], [], max(0.0, min(deadline, next_send) - time.monotonic()))
        if ready:
            found = answer(sock.recv(65535))
            if found is not None:
                return found


# -- IPv6: neighbour discovery --------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv6_frame(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, icmp: bytes) -> bytes:
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + src + dst
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def _solicited_node(target: ipaddress.IPv6Address) -> tuple[bytes, bytes]:
    group = ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + target.packed[13:]
    return group, b"\x33\x33" + group[12:]


def _own_ipv6(ifname: str) -> bytes:
    """This thread's namespace's address on `ifname`, link-local first; :: when there is none."""
    found: list[tuple[int, bytes]] = []
    try:
        with open("/proc/thread-self/net/if_inet6") as table:
            for line in table:
                parts = line.split()
                if len(parts) >= 6 and parts[5] == ifname and not int(parts[4], 16) & 0x40:  # not tentative
                    found.append((0 if parts[3] == "20" else 1, bytes.fromhex(parts[0])))
    except OSError:
        pass
    return min(found)[1] if found else bytes(16)


def _ndp_exchange(ifname: str, target: ipaddress.IPv6Address, timeout: float, *, conflict: bool) -> str | None:
    sock, mac = _open(ifname, ETH_P_IPV6)
    with sock:
        src = bytes(16) if conflict else _own_ipv6(ifname)
        group, group_mac = _solicited_node(target)
        options = b"" if src == bytes(16) else b"\x01\x01" + mac  # no SLLAO from the unspecified address
        icmp = struct.pack("!BBHI", ICMPV6_NS, 0, 0, 0) + target.packed + options
        request = _ipv6_frame(mac, group_mac, src, group, icmp)

        def answer(frame: bytes) -> str | None:
            if len(frame) < 14 + 40 + 24 or frame[12:14] != b"\x86\xdd" or frame[20] != 58:
                return None
            icmp6 = frame[54:]
            if icmp6[0] != ICMPV6_NA or icmp6[8:24] != target.packed or frame[6:12] == mac:
                return None
            return format_mac(_option_mac(icmp6[24:], 2) or frame[6:12])

        return _exchange(sock, request, answer, timeout)


def _option_mac(options: bytes, kind: int) -> bytes | None:
    while len(options) >= 8:
        length = options[1] * 8
        if length == 0:
            return None
        if options[0] == kind:
            return options[2:8]
        options = options[length:]
    return None


def _announce(ifname: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if address.version == 4:
        sock, mac = _open(ifname, ETH_P_ARP)
        with sock:
            sock.send(_arp(1, mac, address.packed, b"\0" * 6, address.packed, BROADCAST))
        return
    sock, mac = _open(ifname, ETH_P_IPV6)
    with sock:
        all_nodes = ipaddress.IPv6Address("ff02::1").packed
        flags = 0x20000000  # Override; not Solicited (unsolicited), not Router
        icmp = struct.pack("!BBHI", ICMPV6_NA, 0, 0, flags) + address.packed + b"\x02\x01" + mac
        sock.send(_ipv6_frame(mac, b"\x33\x33\x00\x00\x00\x01", address.packed, all_nodes, icmp))
