"""Real git remotes on loopback for the watch tests: a bare repository that a test pushes to,
served by `git daemon` (git://127.0.0.1:PORT/) and readable as file://.

`Remote.push_spec(text)` commits a spec file in a work clone and pushes it; `force_push_spec`
rewrites the branch; `delete_branch` removes the ref. `spec(...)` writes a small NetworkSpec
whose pools and gateway a test varies.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30,
                          env={**os.environ, **GIT_ENV})
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def spec(*, name: str = "demo", pools: dict[str, str] | None = None, gateway: str = "10.6.0.1") -> str:
    """A NetworkSpec with one subnet and the given pools (name -> one IP range)."""
    pools = pools if pools is not None else {"pool-a": "10.6.168.60-10.6.168.69"}
    lines = ["apiVersion: gitops.spidernet.io/v1alpha1", "kind: NetworkSpec", "metadata:", f"  name: {name}",
             "spec:", "  ippools:"]
    for pool, ips in pools.items():
        lines += [f"    - name: {pool}", "      subnet: 10.6.0.0/16", f"      ips: [{ips}]",
                  f"      gateway: {gateway}"]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Remote:
    def __init__(self, root: Path, *, branch: str = "main", spec_dir: str = "specs"):
        self.root = root
        self.bare = root / "net.git"
        self.work = root / "work"
        self.branch = branch
        self.spec_dir = spec_dir
        git("init", "--quiet", "--bare", "--initial-branch", branch, str(self.bare), cwd=root)
        git("config", "receive.denyDeleteCurrent", "ignore", cwd=self.bare)
        git("init", "--quiet", "--initial-branch", branch, str(self.work), cwd=root)
        self.daemon: subprocess.Popen | None = None
        self.port = 0

    @property
    def file_url(self) -> str:
        return self.bare.as_uri()

    @property
    def git_url(self) -> str:
        assert self.daemon is not None, "serve() first"
        return f"git://127.0.0.1:{self.port}/net.git"

    def serve(self) -> "Remote":
        self.port = free_port()
        self.daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={self.root}", "--listen=127.0.0.1",
             f"--port={self.port}", "--informative-errors", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("git daemon did not start")

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.terminate()
            self.daemon.wait(timeout=10)

    def commit_spec(self, text: str, message: str = "spec", *, file: str = "spec.yaml") -> str:
        target = self.work / self.spec_dir / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, *, force: bool = False) -> None:
        git("push", "--quiet", *(["--force"] if force else []), str(self.bare), f"HEAD:refs/heads/{self.branch}",
            cwd=self.work)

    def push_spec(self, text: str, message: str = "spec") -> str:
        sha = self.commit_spec(text, message)
        self.push()
        return sha

    def force_push_spec(self, text: str, message: str = "rewritten") -> str:
        """Drop the branch's last commit and push a different one in its place."""
        git("reset", "--quiet", "--hard", "HEAD~1", cwd=self.work)
        sha = self.commit_spec(text, message)
        self.push(force=True)
        return sha

    def tag(self, name: str) -> None:
        git("tag", name, cwd=self.work)
        git("push", "--quiet", str(self.bare), f"refs/tags/{name}", cwd=self.work)

    def delete_branch(self) -> None:
        git("push", "--quiet", str(self.bare), f":refs/heads/{self.branch}", cwd=self.work)
