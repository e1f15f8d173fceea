"""`python -m tests.kubeapi`: run the test API server until SIGINT/SIGTERM.

Prints the server URL as the first line of stdout (flushed) once it accepts connections,
after writing a kubeconfig for it, so scripts can start it in the background and read
where it is.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import KubeAPIServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for the server")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed CA")
    parser.add_argument("--token", default=None, help="require this bearer token")
    parser.add_argument("--history", type=int, default=1000, help="watch events retained (older: 410)")
    args = parser.parse_args(argv)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server = KubeAPIServer(tls=args.tls, token=args.token, port=args.port, history_limit=args.history).start()
    try:
        server.write_kubeconfig(args.kubeconfig)
        print(server.url, flush=True)
        while not done.wait(1.0):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
