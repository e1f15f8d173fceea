"""Two network namespaces joined by a veth pair: `here` probes, `there` holds addresses (or not).

    link.here / link.there   namespace names (under /var/run/netns)
    link.mac_there           the MAC of `there`'s end
    here ends: 10.77.0.1/24, fd77::1/64     there ends: 10.77.0.2/24, fd77::2/64 (no DAD)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


@dataclass
class Link:
    here: str
    there: str
    mac_there: str


@pytest.fixture
def link():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to create network namespaces")
    tag = f"{os.getpid() % 100000}"
    here, there = f"prb-a{tag}", f"prb-b{tag}"
    for name in (here, there):
        ip("netns", "add", name)
    try:
        ip("link", "add", "pa", "netns", here, "type", "veth", "peer", "name", "pb", "netns", there)
        for name, dev, v4, v6 in ((here, "pa", "10.77.0.1/24", "fd77::1/64"), (there, "pb", "10.77.0.2/24",
                                                                                 "fd77::2/64")):
            ip("-n", name, "addr", "add", v4, "dev", dev)
            ip("-n", name, "addr", "add", v6, "dev", dev, "nodad")
            ip("-n", name, "link", "set", dev, "up")
        mac = ip("-n", there, "-j", "link", "show", "pb")
        import json
        yield Link(here, there, json.loads(mac)[0]["address"])
    finally:
        for name in (here, there):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
