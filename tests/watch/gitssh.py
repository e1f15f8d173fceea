"""A real sshd on loopback serving git over SSH to one deploy key, as a git host does.

`SshGit(root)` generates a host key and a client ed25519 key under `root`, authorizes the client
key for the current user (root: the tests run as root in CI) and runs `/usr/sbin/sshd -D -e` on
127.0.0.1:PORT with its own sshd_config (key login only). `url(bare)` is the ssh:// URL of a bare
repository; `known_hosts` the line a user would add for this host (`ssh-keyscan` output);
`other_key()` a second key the server does not know. `skip_reason()` says why it cannot run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.watch.gitremote import free_port

SSHD = "/usr/sbin/sshd"


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "sshd serves git only to the user it runs as; the SSH tests log in as root (CI runs as root)"
    if not Path(SSHD).exists() or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        return f"no {SSHD}, ssh or ssh-keygen (apt-get install openssh-server openssh-client)"
    return None


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True,
                   timeout=30)
    return path


class SshGit:
    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "sshd"
        self.dir.mkdir(mode=0o700)
        self.host_key = keygen(self.dir / "ssh_host_ed25519_key", "spiderpool-test-host")
        self.key = keygen(self.dir / "deploy_key", "spiderpool-test-deploy")
        (self.dir / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        self.port = free_port()
        self.config = self.dir / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}", f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "StrictModes no", "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "PrintMotd no",
            "LogLevel VERBOSE", ""]))
        self.process: subprocess.Popen | None = None
        self.log = self.dir / "sshd.log"

    @property
    def known_hosts(self) -> str:
        """This server's known_hosts line, as `ssh-keyscan -p PORT 127.0.0.1` prints it."""
        kind, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def url(self, bare: Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{bare}"

    def other_key(self) -> Path:
        return keygen(self.dir / "unknown_key", "spiderpool-test-unknown")

    def start(self) -> "SshGit":
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"sshd exited {self.process.returncode}: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"sshd did not listen: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
