"""What the data-plane tests need from the machine, and a clear skip where it is missing.

These tests need root, iproute2 with `ip netns`, iptables (the coordinator's reply-via-veth0
marks in underlay pods) and Debian's containernetworking-plugins (`/usr/lib/cni/macvlan`, ...).
CI runs as root and `.ci/run` installs these packages, so there they always run; `test_underlay_pods` also needs `spiderpool agent`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

import pytest

from .bed import REPO, reference_plugin_dir


@functools.cache
def missing_requirement() -> str | None:
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespace tests need root"
    if shutil.which("ip") is None:
        return "network namespace tests need iproute2 (`ip`)"
    if shutil.which("iptables") is None or shutil.which("ip6tables") is None:
        return "network namespace tests need iptables and ip6tables (apt-get install iptables)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    plugins = reference_plugin_dir()
    if plugins is None or not (plugins / "host-local").exists():
        return "the reference CNI plugins are missing (apt-get install containernetworking-plugins)"
    return None


@functools.cache
def missing_agent() -> str | None:
    """Why the real `spiderpool agent` cannot be started, or None."""
    proc = subprocess.run([sys.executable, "-m", "reconciler", "agent", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        return f"`spiderpool agent` is not available: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"
    return None


def require_namespaces() -> None:
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)


def require_agent_bed() -> None:
    """Skip (saying why) unless namespaces, the reference plugins and `spiderpool agent` are here."""
    require_namespaces()
    reason = missing_agent()
    if reason:
        pytest.skip(reason)
