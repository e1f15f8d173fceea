"""Network namespaces, links and kernel state through iproute2, for the test bed.

Why it exists: the data-plane tests build their "cluster" out of namespaces and
veth pairs, and afterwards read back what the plugins really did to the kernel.
Shelling out to `ip` keeps both readable (`ip -j -n NS route show` is exactly
what a person would type) and keeps pyroute2 out of the tests; the product code
uses pyroute2, so the tests do not check it against itself.

Every call is bounded by a timeout. Namespace names are the caller's business;
`sweep` removes those a crashed earlier run left behind (see `bed.PREFIX`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any, Sequence

NETNS_DIR = Path("/var/run/netns")
TIMEOUT = 20.0


class KernelError(Exception):
    """An `ip` command failed; the message carries the command and its stderr."""


def ip(*args: str, netns: str | None = None, timeout: float = TIMEOUT) -> str:
    """Run `ip [-n NETNS] ARGS...` -> stdout; KernelError on failure."""
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise KernelError(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc.stdout


def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    out = ip("-j", *args, netns=netns)
    return json.loads(out) if out.strip() else []


def exec_in(netns: str, argv: Sequence[str], *, env: dict[str, str] | None = None, stdin: bytes = b"",
            timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run a program inside `netns` (`ip netns exec`), never raising on its exit code."""
    return subprocess.run(["ip", "netns", "exec", netns, *argv], input=stdin, env=env, capture_output=True,
                          timeout=timeout, cwd="/")


# -- namespaces ---------------------------------------------------------------------------------

def add_netns(name: str) -> None:
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)


def delete_netns(name: str) -> None:
    """Remove a namespace (and with it every link inside); a missing one is fine."""
    if (NETNS_DIR / name).exists():
        try:
            ip("netns", "delete", name)
        except KernelError:
            if (NETNS_DIR / name).exists():
                raise


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_netns() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def write_sysctl(netns: str, key: str, value: str) -> None:
    """`net.ipv4.ip_forward` = 1 inside `netns` (procfs net/ entries are per namespace)."""
    path = "/proc/sys/" + key.replace(".", "/")
    proc = exec_in(netns, ["sh", "-c", f'echo {value} > "$0"', path])
    if proc.returncode != 0:
        raise KernelError(f"sysctl {key}={value} in {netns}: {proc.stderr.decode().strip()}")


# -- links ----------------------------------------------------------------------------------------

def add_veth(name: str, netns: str, *, peer: str, peer_netns: str) -> None:
    """A veth pair created directly in two namespaces: nothing ever appears in the host's."""
    ip("link", "add", name, "netns", netns, "type", "veth", "peer", "name", peer, "netns", peer_netns)


def add_bridge(name: str, netns: str) -> None:
    ip("link", "add", name, "type", "bridge", netns=netns)
    # a test switch forwards at once: no STP listening/learning delay, no multicast snooping surprises
    ip("link", "set", name, "type", "bridge", "forward_delay", "0", "stp_state", "0", "mcast_snooping", "0",
       netns=netns)
    ip("link", "set", name, "up", netns=netns)


def enslave(port: str, bridge: str, netns: str) -> None:
    ip("link", "set", port, "master", bridge, netns=netns)
    ip("link", "set", port, "up", netns=netns)


def add_address(dev: str, cidr: str, netns: str) -> None:
    ip("address", "add", cidr, "dev", dev, netns=netns)


def set_up(dev: str, netns: str) -> None:
    ip("link", "set", dev, "up", netns=netns)


# -- reading state back ---------------------------------------------------------------------------

def links(netns: str) -> list[dict[str, Any]]:
    return ip_json("link", "show", netns=netns)


def link_names(netns: str) -> list[str]:
    return [link["ifname"] for link in links(netns)]


def addresses(netns: str, dev: str | None = None) -> list[dict[str, Any]]:
    """`ip -j addr show [dev]`: one entry per link, each with `addr_info`."""
    return ip_json("address", "show", *(("dev", dev) if dev else ()), netns=netns)


def cidrs(netns: str, dev: str, *, family: int | None = None) -> list[str]:
    """The global addresses on `dev` as "ip/prefix" (link-local and loopback left out)."""
    out = []
    for link in addresses(netns, dev):
        for info in link.get("addr_info", ()):
            if info.get("scope") != "global":
                continue
            if family and info.get("family") != ("inet" if family == 4 else "inet6"):
                continue
            out.append(f"{info['local']}/{info['prefixlen']}")
    return out


def routes(netns: str, *, family: int = 4, table: str = "main") -> list[dict[str, Any]]:
    return ip_json(f"-{family}", "route", "show", "table", table, netns=netns)


def rules(netns: str, *, family: int = 4) -> list[dict[str, Any]]:
    return ip_json(f"-{family}", "rule", "show", netns=netns)


# -- leftovers --------------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(pattern: re.Pattern[str], *, workdirs: Path) -> list[str]:
    """Delete namespaces and work dirs whose name matches `pattern` with a dead owner pid (group 1).

    Agents a dead run left behind are stopped by the pids it recorded in its work dir,
    after checking each one's command line still names that dir (pids get reused).
    """
    removed = []
    for name in list_netns():
        match = pattern.match(name)
        if match and not pid_alive(int(match.group(1))):
            delete_netns(name)
            removed.append(name)
    for path in workdirs.iterdir():
        match = pattern.match(path.name)
        if match and path.is_dir() and not pid_alive(int(match.group(1))):
            stop_recorded_processes(path)
            subprocess.run(["rm", "-rf", "--one-file-system", str(path)], timeout=TIMEOUT, check=False)
            removed.append(str(path))
    return removed


def stop_recorded_processes(workdir: Path) -> None:
    pidfile = workdir / "pids"
    if not pidfile.exists():
        return
    for line in pidfile.read_text().split():
        pid = int(line)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(workdir).encode() in cmdline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
