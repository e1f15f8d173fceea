"""A container runtime's CNI side (what libcni does for containerd and CRI-O), for the test bed.

Why it exists: our IPAM plugin is only ever run by a main plugin (macvlan) that a
runtime runs. To test it as it lives, the tests need that runtime: this module
executes a network configuration list the way `libcni` does (checked against
`libcni/api.go`, CNI spec 1.1.0):

- ADD runs the plugins in order; each gets the plugin's config with `name` and
  `cniVersion` of the list injected, and from the second on the previous
  plugin's result as `prevResult`; the final result is cached per attachment.
- DEL runs them in reverse, each with the cached final result as `prevResult`
  (0.4.0 on; 0.3.x gets none); a second DEL finds no cache and sends none.
- CHECK (0.4.0 on, unless `disableCheck`) runs them in order with the cached result.
- GC first DELs every cached attachment of the network that is not in the valid
  list, then (1.1.0 on) sends GC with `cni.dev/valid-attachments` (and its old
  name `cni.dev/attachments`, which libcni still injects) to every plugin.
- STATUS (1.1.0 on) asks every plugin in order and stops at the first failure.
- A failing plugin's stdout is decoded as the CNI error it must be.

Plugins run inside a chosen network namespace (the node's), found on CNI_PATH,
with the runtime's environment plus the CNI_* variables and any extra variables.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from . import kernel

VERSIONS = ("0.3.1", "0.4.0", "1.0.0", "1.1.0")
PLUGIN_TIMEOUT = 30.0


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def at_least(version: str, first: str) -> bool:
    return version_tuple(version) >= version_tuple(first)


@dataclass(frozen=True)
class Network:
    """A CNI network configuration list (a NAD's `spec.config`)."""

    name: str
    cni_version: str
    plugins: tuple[dict[str, Any], ...]
    disable_check: bool = False
    disable_gc: bool = False

    @classmethod
    def parse(cls, config: str | Mapping[str, Any]) -> Network:
        """From a conflist (JSON text or dict), a single-plugin config, or a NAD object."""
        if isinstance(config, str):
            config = json.loads(config)
        if config.get("kind") == "NetworkAttachmentDefinition":
            config = json.loads(config["spec"]["config"])
        plugins = config.get("plugins")
        if plugins is None:  # a single plugin's config: a list of one
            plugins = [{k: v for k, v in config.items() if k not in ("name", "cniVersion")}]
        return cls(config["name"], config["cniVersion"], tuple(copy.deepcopy(p) for p in plugins),
                   bool(config.get("disableCheck")), bool(config.get("disableGC")))

    def at_version(self, version: str) -> Network:
        return Network(self.name, version, self.plugins, self.disable_check, self.disable_gc)

    def with_ipam(self, **values: Any) -> Network:
        """The same list with keys of every plugin's `ipam` section replaced (None removes one)."""
        plugins = []
        for plugin in self.plugins:
            plugin = copy.deepcopy(plugin)
            if "ipam" in plugin:
                plugin["ipam"].update(values)
                plugin["ipam"] = {k: v for k, v in plugin["ipam"].items() if v is not None}
            plugins.append(plugin)
        return Network(self.name, self.cni_version, tuple(plugins), self.disable_check, self.disable_gc)

    def without(self, plugin_type: str) -> Network:
        return Network(self.name, self.cni_version, tuple(p for p in self.plugins if p["type"] != plugin_type),
                       self.disable_check, self.disable_gc)

    def to_dict(self) -> dict[str, Any]:
        return {"cniVersion": self.cni_version, "name": self.name, "plugins": [copy.deepcopy(p) for p in self.plugins]}


@dataclass
class Attachment:
    """One (container, interface, network): what libcni keeps in /var/lib/cni/results."""

    container_id: str
    ifname: str
    netns: str  # the path, e.g. /var/run/netns/<pod>
    cni_args: Sequence[tuple[str, str]]
    network: str = ""
    result: dict[str, Any] | None = None  # the final ADD result; None once deleted


class CniFailure(Exception):
    """A plugin failed: `code`/`msg`/`details` from its stdout (code None: it printed no CNI error)."""

    def __init__(self, *, command: str, plugin: str, code: int | None, msg: str, details: str = "",
                 stderr: str = "", returncode: int = 1):
        self.command, self.plugin, self.code, self.msg, self.details = command, plugin, code, msg, details
        self.stderr, self.returncode = stderr, returncode
        super().__init__(f"plugin type={plugin!r} failed ({command.lower()}): code {code}: {msg}"
                         + (f" ({details})" if details else "") + (f"\nstderr: {stderr.strip()}" if stderr.strip() else ""))


class GcFailed(Exception):
    def __init__(self, failures: list[CniFailure]):
        self.failures = failures
        super().__init__("; ".join(str(f) for f in failures))


class Runtime:
    """Runs plugins from `cni_path` inside `netns` with `env` added to the runtime's own environment."""

    def __init__(self, *, netns: str, cni_path: Sequence[str], env: Mapping[str, str] | None = None,
                 timeout: float = PLUGIN_TIMEOUT):
        self.netns, self.cni_path, self.env, self.timeout = netns, list(cni_path), dict(env or {}), timeout

    # -- the operations ------------------------------------------------------------------------

    def add(self, network: Network, attachment: Attachment, *,
            capability_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        result = None
        for plugin in network.plugins:
            conf = self.plugin_config(network, plugin, prev_result=result, capability_args=capability_args)
            result = self.invoke("ADD", conf, attachment)
        attachment.network, attachment.result = network.name, result
        return result

    def check(self, network: Network, attachment: Attachment) -> None:
        if not at_least(network.cni_version, "0.4.0"):
            raise ValueError(f"configuration version {network.cni_version!r} does not support the CHECK command")
        if network.disable_check:
            return
        for plugin in network.plugins:
            self.invoke("CHECK", self.plugin_config(network, plugin, prev_result=attachment.result), attachment)

    def delete(self, network: Network, attachment: Attachment) -> None:
        cached = attachment.result if at_least(network.cni_version, "0.4.0") else None
        for plugin in reversed(network.plugins):
            self.invoke("DEL", self.plugin_config(network, plugin, prev_result=cached), attachment)
        attachment.result = None

    def gc(self, network: Network, *, valid: Iterable[tuple[str, str]], cached: Iterable[Attachment] = ()) -> None:
        """`valid`: (containerID, ifname) pairs; `cached`: the runtime's cache for this node."""
        valid = sorted(set(valid))
        failures = []
        for attachment in cached:
            if attachment.network == network.name and attachment.result is not None \
                    and (attachment.container_id, attachment.ifname) not in valid:
                try:
                    self.delete(network, attachment)
                except CniFailure as failure:
                    failures.append(failure)
        if at_least(network.cni_version, "1.1.0") and not network.disable_gc:
            listed = [{"containerID": cid, "ifname": ifname} for cid, ifname in valid]
            for plugin in network.plugins:
                conf = self.plugin_config(network, plugin)
                conf["cni.dev/valid-attachments"] = listed
                conf["cni.dev/attachments"] = listed
                try:
                    self.invoke("GC", conf, None)
                except CniFailure as failure:
                    failures.append(failure)
        if failures:
            raise GcFailed(failures)

    def status(self, network: Network) -> None:
        if not at_least(network.cni_version, "1.1.0"):
            return
        for plugin in network.plugins:
            self.invoke("STATUS", self.plugin_config(network, plugin), None)

    def version_info(self, plugin_type: str) -> dict[str, Any]:
        """The plugin's VERSION answer (what libcni's ValidateNetworkList asks)."""
        return self.invoke("VERSION", {"cniVersion": VERSIONS[-1]}, None, plugin_type=plugin_type)

    def supports(self, plugin_type: str, version: str) -> bool:
        return version in self.version_info(plugin_type).get("supportedVersions", ())

    # -- building blocks ---------------------------------------------------------------------------

    @staticmethod
    def plugin_config(network: Network, plugin: Mapping[str, Any], *, prev_result: dict[str, Any] | None = None,
                      capability_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        conf = copy.deepcopy(dict(plugin))
        conf["name"], conf["cniVersion"] = network.name, network.cni_version
        if prev_result is not None:
            conf["prevResult"] = copy.deepcopy(prev_result)
        runtime_config = {key: value for key, value in (capability_args or {}).items()
                          if (plugin.get("capabilities") or {}).get(key)}
        if runtime_config:
            conf["runtimeConfig"] = runtime_config
        return conf

    def find(self, plugin_type: str) -> str:
        for directory in self.cni_path:
            path = os.path.join(directory, plugin_type)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        raise FileNotFoundError(f"failed to find plugin {plugin_type!r} in path {self.cni_path}")

    def environment(self, command: str, attachment: Attachment | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.update(self.env)
        env["CNI_COMMAND"], env["CNI_PATH"] = command, os.pathsep.join(self.cni_path)
        if attachment is not None and command in ("ADD", "CHECK", "DEL"):
            env["CNI_CONTAINERID"], env["CNI_IFNAME"] = attachment.container_id, attachment.ifname
            env["CNI_ARGS"] = ";".join(f"{k}={v}" for k, v in attachment.cni_args)
            if attachment.netns and (command != "DEL" or os.path.exists(attachment.netns)):
                env["CNI_NETNS"] = attachment.netns
        return env

    def invoke(self, command: str, conf: dict[str, Any], attachment: Attachment | None, *,
               plugin_type: str | None = None) -> Any:
        """Exec one plugin in the namespace -> its decoded stdout (None when empty); CniFailure on failure."""
        plugin_type = plugin_type or conf["type"]
        try:
            proc = kernel.exec_in(self.netns, [self.find(plugin_type)], env=self.environment(command, attachment),
                                  stdin=json.dumps(conf).encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CniFailure(command=command, plugin=plugin_type, code=None,
                             msg=f"no answer within {self.timeout:g} s") from None
        out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise _failure(command, plugin_type, out, err, proc.returncode)
        if not out.strip():
            return None
        try:
            return json.loads(out)
        except ValueError:
            raise CniFailure(command=command, plugin=plugin_type, code=None,
                             msg=f"the plugin printed something that is not JSON: {out[:300]!r}", stderr=err) from None


def _failure(command: str, plugin: str, out: str, err: str, returncode: int) -> CniFailure:
    try:
        data = json.loads(out)
        return CniFailure(command=command, plugin=plugin, code=data.get("code"), msg=data.get("msg", ""),
                          details=data.get("details", ""), stderr=err, returncode=returncode)
    except (ValueError, AttributeError):
        return CniFailure(command=command, plugin=plugin, code=None,
                          msg=f"netplugin failed with no error message: exit status {returncode}",
                          details=out.strip()[:300], stderr=err, returncode=returncode)


def pod_cni_args(*, namespace: str, name: str, container_id: str, uid: str) -> list[tuple[str, str]]:
    """CNI_ARGS as the kubelet (through the CRI runtime) sets them."""
    return [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", namespace), ("K8S_POD_NAME", name),
            ("K8S_POD_INFRA_CONTAINER_ID", container_id), ("K8S_POD_UID", uid)]


__all__ = ["Attachment", "CniFailure", "GcFailed", "Network", "Runtime", "VERSIONS", "at_least", "pod_cni_args"]
