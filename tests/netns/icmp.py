"""A bounded ICMP echo ("ping") that runs inside a namespace: `ip netns exec NS python icmp.py ...`.

Why it exists: the test machines carry iproute2 but not necessarily iputils'
`ping`, and the tests want a machine-readable answer (how many replies, with
which TTL: a routed reply arrives with one hop less). Standard library only;
run as a script, it prints one JSON object and exits 0 when any reply came back.

    python icmp.py 10.6.168.61 --count 2 --timeout 1.0
    {"target": "10.6.168.61", "sent": 2, "received": 2, "ttls": [64, 64]}
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import select
import socket
import struct
import sys
import time

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(version: int, ident: int, seq: int) -> bytes:
    payload = b"spiderpool-netns-bed"
    header = struct.pack("!BBHHH", ECHO_REQUEST[version], 0, 0, ident, seq)
    if version == 6:  # the kernel fills in the ICMPv6 checksum (it needs the pseudo-header)
        return header + payload
    return struct.pack("!BBHHH", ECHO_REQUEST[4], 0, checksum(header + payload), ident, seq) + payload


def parse_reply(version: int, packet: bytes, ident: int) -> tuple[int, int | None] | None:
    """-> (seq, ttl) when `packet` is an echo reply to us, else None."""
    ttl = None
    if version == 4:
        header_len = (packet[0] & 0x0F) * 4
        ttl, packet = packet[8], packet[header_len:]
    if len(packet) < 8:
        return None
    kind, _code, _sum, got_ident, seq = struct.unpack("!BBHHH", packet[:8])
    if kind != ECHO_REPLY[version] or got_ident != ident:
        return None
    return seq, ttl


def ping(target: str, *, count: int = 1, timeout: float = 1.0) -> dict:
    """Send `count` echo requests, waiting up to `timeout` s for each reply."""
    version = ipaddress.ip_address(target).version
    family, proto = (socket.AF_INET, socket.IPPROTO_ICMP) if version == 4 else (socket.AF_INET6,
                                                                                 socket.IPPROTO_ICMPV6)
    ident = os.getpid() & 0xFFFF
    ttls: list[int | None] = []
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        for seq in range(1, count + 1):
            sock.sendto(echo_request(version, ident, seq), (target, 0))
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                if not select.select([sock], [], [], remaining)[0]:
                    break
                packet, _ = sock.recvfrom(65535)
                got = parse_reply(version, packet, ident)
                if got is not None and got[0] == seq:
                    ttls.append(got[1])
                    break
    return {"target": target, "sent": count, "received": len(ttls), "ttls": ttls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each reply")
    args = parser.parse_args(argv)
    try:
        answer = ping(args.target, count=args.count, timeout=args.timeout)
    except OSError as exc:  # e.g. "Network is unreachable": no route at all
        answer = {"target": args.target, "sent": 0, "received": 0, "ttls": [], "error": str(exc)}
    print(json.dumps(answer))
    return 0 if answer["received"] else 1


if __name__ == "__main__":
    sys.exit(main())
