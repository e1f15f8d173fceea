"""A small client for the agent's socket: what the plugin sends, for tests, benchmarks and tools.

`AgentClient(path).cni("ADD", ...)` posts the plugin's request body and returns
the reply (exit code, stdout) exactly as the plugin would print it.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("spiderpool-agent", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass(frozen=True)
class CniReply:
    exit_code: int
    stdout: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout else None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def code(self) -> int | None:
        """The CNI error code, None on success."""
        return None if self.ok else self.json.get("code")

    @property
    def ips(self) -> list[str]:
        """Bare addresses of an ADD result."""
        return [ip["address"].partition("/")[0] for ip in (self.json or {}).get("ips") or ()] if self.ok else []


class AgentClient:
    def __init__(self, path: str, *, timeout: float = 120.0):
        self.path, self.timeout = str(path), timeout

    def request(self, method: str, route: str, body: Any = None) -> tuple[int, bytes]:
        connection = _UnixConnection(self.path, self.timeout)
        try:
            data = None if body is None else json.dumps(body).encode("utf-8")
            headers = {"Content-Type": "application/json", "Connection": "close"} if data is not None else {}
            connection.request(method, route, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def cni(self, command: str, *, config: dict, container_id: str = "", if_name: str = "eth0",
            netns: str | None = None, namespace: str | None = None, pod: str | None = None, uid: str | None = None,
            path: str = "/opt/cni/bin") -> CniReply:
        args = {"IgnoreUnknown": "1"}
        for key, value in (("K8S_POD_NAMESPACE", namespace), ("K8S_POD_NAME", pod), ("K8S_POD_UID", uid),
                           ("K8S_POD_INFRA_CONTAINER_ID", container_id)):
            if value:
                args[key] = value
        if netns is None:
            netns = f"/var/run/netns/cni-{container_id[:8]}" if command in ("ADD", "CHECK") else ""
        body = {"command": command, "containerID": container_id, "netns": netns, "ifName": if_name,
                "cniArgs": args, "path": path, "config": config}
        return self.post(body)

    def post(self, body: Any) -> CniReply:
        status, data = self.request("POST", "/v1/cni", body)
        if status != 200:
            raise RuntimeError(f"agent answered HTTP {status}: {data[:300]!r}")
        reply = json.loads(data)
        return CniReply(reply["exitCode"], reply["stdout"])

    def get(self, route: str) -> tuple[int, str]:
        status, data = self.request("GET", route)
        return status, data.decode("utf-8")


def netconf(version: str = "1.0.0", *, name: str = "macvlan-ens192", **ipam: Any) -> dict:
    """The full network configuration a main plugin hands its IPAM plugin."""
    return {"cniVersion": version, "name": name, "type": "macvlan", "master": "ens192", "mode": "bridge",
            "ipam": {"type": "spiderpool", **ipam}}
