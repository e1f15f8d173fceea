"""Running a function inside another network namespace, without leaving ours.

Why it exists: the coordinator works in pods' namespaces (netlink sockets for
`apply`, packet sockets for `probes`) from the agent, which must stay in its own.
setns(2) changes only the calling thread, so the work runs in a short-lived thread
that enters the namespace and ends with it: well under a millisecond, where
pyroute2's own `NetNS` forks a helper (~15 ms). Standard library only.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(netns: str | None) -> str | None:
    """A path (/var/run/netns/x, /proc/PID/ns/net) as it is; a bare name is one under /var/run/netns."""
    if netns is None or "/" in netns:
        return netns
    return f"/var/run/netns/{netns}"


def netns_id(path: str) -> tuple[int, int] | None:
    """The namespace a path names, as (device, inode): two paths name one namespace when these are equal.
    None when the path does not exist (a process that is gone) or cannot be looked at."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def in_netns(netns: str | None, work: Callable[[], T]) -> T:
    """`work()` in a thread that joined the namespace `netns` (None: ours) -> its result, or its exception
    raised in the caller's thread; OSError when the namespace cannot be entered."""
    path = netns_path(netns)
    if path is None:
        return work()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {path}: {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
            box["value"] = work()  # the thread ends here: its namespace goes with it
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
