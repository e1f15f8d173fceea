"""`python -m tests.cluster --kubeconfig FILE [--controllers]`: a real control plane on loopback.

Builds the binaries on first use (see tests/cluster/build.py), starts etcd and kube-apiserver
(and kube-controller-manager and kube-scheduler with --controllers) in a temp dir, writes the
admin kubeconfig to FILE, prints its path once the API server is ready, and serves until
SIGTERM or SIGINT; then it stops everything and removes the temp dir.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .build import BuildError, ensure
from .controlplane import ControlPlane, ControlPlaneError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True, type=Path, help="where to write the admin kubeconfig")
    parser.add_argument("--controllers", action="store_true",
                        help="also run kube-controller-manager and kube-scheduler")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        binaries = ensure(progress=lambda m: print(m, file=sys.stderr, flush=True))
        cp = ControlPlane(controllers=args.controllers, binaries=binaries).start()
    except (BuildError, ControlPlaneError) as exc:
        print(f"tests.cluster: {exc}", file=sys.stderr)
        return 1
    try:
        cp.write_kubeconfig(args.kubeconfig)
        args.kubeconfig.chmod(0o600)
        print(f"control plane ready in {cp.started_in:.1f} s at {cp.url}", file=sys.stderr, flush=True)
        print(args.kubeconfig.resolve(), flush=True)
        while not stop.wait(1.0):
            dead = [n for n, p in cp.processes.items() if p.poll() is not None]
            if dead:
                print(f"tests.cluster: {', '.join(dead)} exited; stopping", file=sys.stderr)
                return 1
        return 0
    finally:
        cp.stop()


if __name__ == "__main__":
    raise SystemExit(main())
