"""The CNI protocol, version-neutral inside and spec-exact at the edge.

Why it exists: the `spiderpool` plugin executable forwards each runtime request
to the node agent, and the agent is the one that validates it, decides, and
renders the answer in the cniVersion the runtime asked for. This module is that
shared vocabulary: the request (env + stdin, or the agent's JSON body carrying
the same), the abbreviated IPAM result for 0.3.0-1.1.0, CNI errors with the
spec's codes, VERSION, GC attachment lists and CHECK's prevResult.
Standard library only; the tables (versions, required environment, error codes)
are the plugin kit's (`cni/pluginwire.py`), which both plugin executables carry
inlined: one definition for the plugins and the agent.

The contract with the agent (`POST /v1/cni` over the unix socket):
request body  {"command", "containerID", "netns", "ifName", "cniArgs", "path", "config"}
reply body    {"exitCode": int, "stdout": str}   (see `Reply`)
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Mapping

from . import pluginwire as wire
from .pluginwire import CONTAINER_ID_PUNCTUATION, LATEST_VERSION, MIN_VERSION, REQUIRED_ENV, SUPPORTED_VERSIONS

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
IFNAME_MAX = 15  # IFNAMSIZ - 1
VALID_ATTACHMENTS_KEYS = ("cni.dev/valid-attachments", "cni.dev/attachments")  # newest first

# The `ipam` keys the plugin understands (schemas/cni-ipam-spiderpool.schema.json) -> expected JSON type.
IPAM_KEYS: Mapping[str, str] = {
    "type": "a string",
    "default_ipv4_ippool": "a list of strings",
    "default_ipv6_ippool": "a list of strings",
    "clean_gateway": "a boolean",
    "match_master_subnet": "a boolean",
    "ipam_unix_socket_path": "a string",
    "log_level": "a string",
    "log_file_path": "a string",
    "log_file_max_size": "a non-negative integer",
    "log_file_max_age": "a non-negative integer",
    "log_file_max_count": "a non-negative integer",
}
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic")


class Code(IntEnum):
    """Well-known CNI error codes (SPEC.md "Well-known Error Codes"); 100+ are ours."""

    INCOMPATIBLE_VERSION = wire.INCOMPATIBLE_VERSION
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENVIRONMENT = wire.INVALID_ENVIRONMENT
    IO_FAILURE = 5
    DECODE_FAILURE = wire.DECODE_FAILURE
    INVALID_NETWORK_CONFIG = wire.INVALID_CONFIG
    TRY_AGAIN_LATER = wire.TRY_AGAIN_LATER
    NOT_AVAILABLE = wire.NOT_AVAILABLE
    NOT_AVAILABLE_DEGRADED = 51
    PLUGIN_ERROR = wire.PLUGIN_ERROR  # ours: records or network do not match what was asked (CHECK, coordinator)
    INTERNAL = wire.INTERNAL  # ours: a bug


CniError = wire.CniError  # one class for the plugins and the agent: code, msg, details; render(version)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def output_version(requested: str | None) -> str:
    """The cniVersion to write: the requested one when we speak it, else our newest."""
    return requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION


def render_version(stdin: bytes | str = b"") -> str:
    """VERSION: `{"cniVersion": <as given on input>, "supportedVersions": [...]}`; never fails."""
    requested = None
    try:
        config = json.loads(stdin or "{}")
        requested = config.get("cniVersion") if isinstance(config, dict) else None
    except ValueError:
        pass
    version = requested if isinstance(requested, str) and requested else LATEST_VERSION
    return json.dumps({"cniVersion": version, "supportedVersions": list(SUPPORTED_VERSIONS)}) + "\n"


# --------------------------------------------------------------------------------------------
# Results: version-neutral values, rendered in the abbreviated IPAM form.

@dataclass(frozen=True)
class IpConfig:
    """One address; `interface` is the name prevResult's index pointed at (never rendered by IPAM)."""

    address: str  # "10.6.212.145/16"
    gateway: str | None = None
    interface: str | None = None

    @property
    def version(self) -> str:
        return "6" if ":" in self.address else "4"


@dataclass(frozen=True)
class Route:
    dst: str
    gw: str | None = None
    mtu: int | None = None  # mtu .. scope exist from 1.1.0 on
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None


ROUTE_EXTRAS_1_1 = ("mtu", "advmss", "priority", "table", "scope")


@dataclass(frozen=True)
class Dns:
    nameservers: tuple[str, ...] = ()
    domain: str | None = None
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


@dataclass(frozen=True)
class IpamResult:
    ips: tuple[IpConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: Dns = field(default_factory=Dns)

    def __post_init__(self) -> None:  # accept lists from callers, store tuples
        object.__setattr__(self, "ips", tuple(self.ips))
        object.__setattr__(self, "routes", tuple(self.routes))


def result_dict(result: IpamResult, cni_version: str) -> dict[str, Any]:
    """The abbreviated IPAM result (no `interfaces`, no `ips[].interface`) for one spec version.

    0.3.x/0.4.0 carry `ips[].version`; route mtu/advmss/priority/table/scope only exist in 1.1.0.
    Empty `ips`/`routes` are left out and `dns` is always present, as the reference plugins do.
    """
    if cni_version not in SUPPORTED_VERSIONS:
        raise ValueError(f"cannot render a result for cniVersion {cni_version!r}")
    legacy = version_tuple(cni_version) < (1, 0, 0)
    route_keys = ("dst", "gw") + (ROUTE_EXTRAS_1_1 if cni_version == "1.1.0" else ())
    out: dict[str, Any] = {"cniVersion": cni_version}
    if result.ips:
        out["ips"] = [{**({"version": ip.version} if legacy else {}), "address": ip.address,
                       **({"gateway": ip.gateway} if ip.gateway else {})} for ip in result.ips]
    if result.routes:
        out["routes"] = [{key: getattr(route, key) for key in route_keys if getattr(route, key) is not None}
                         for route in result.routes]
    out["dns"] = result.dns.to_dict()
    return out


def render_result(result: IpamResult, cni_version: str) -> str:
    return json.dumps(result_dict(result, cni_version)) + "\n"


def parse_result(raw: Any, *, what: str = "prevResult") -> IpamResult:
    """A result of any supported version (full or abbreviated) -> IpamResult; CniError 6 if unreadable."""
    def fail(reason: str) -> CniError:
        return CniError(Code.DECODE_FAILURE, f"cannot decode {what}: {reason}")

    if not isinstance(raw, dict):
        raise fail("it is not a JSON object")
    interfaces = _list(raw, "interfaces", fail)
    ips = []
    for i, ip in enumerate(_list(raw, "ips", fail)):
        where = f"ips[{i}]"
        if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
            raise fail(f"{where} has no address")
        _check_ip(ip["address"], f"{where}.address", fail, cidr=True)
        gateway = ip.get("gateway")
        if gateway is not None:
            _check_ip(gateway, f"{where}.gateway", fail, cidr=False)
        ips.append(IpConfig(ip["address"], gateway, _interface_name(ip.get("interface"), interfaces, where, fail)))
    routes = []
    for i, route in enumerate(_list(raw, "routes", fail)):
        if not isinstance(route, dict) or not isinstance(route.get("dst"), str):
            raise fail(f"routes[{i}] has no dst")
        routes.append(Route(**{k: route[k] for k in ("dst", "gw", *ROUTE_EXTRAS_1_1) if route.get(k) is not None}))
    dns = raw.get("dns") if raw.get("dns") is not None else {}
    if not isinstance(dns, dict):
        raise fail("dns is not an object")
    return IpamResult(ips, routes, Dns(tuple(dns.get("nameservers") or ()), dns.get("domain") or None,
                                       tuple(dns.get("search") or ()), tuple(dns.get("options") or ())))


def _list(raw: dict, key: str, fail) -> list:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"{key} is not a list")
    return value


def _check_ip(text: Any, where: str, fail, *, cidr: bool) -> None:
    try:
        if not isinstance(text, str) or ("/" in text) != cidr:
            raise ValueError
        (ipaddress.ip_interface if cidr else ipaddress.ip_address)(text)
    except ValueError:
        raise fail(f"{where} {text!r} is not an {'address/prefix' if cidr else 'IP address'}") from None


def _interface_name(index: Any, interfaces: list, where: str, fail) -> str | None:
    if index is None:
        return None
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(interfaces):
        raise fail(f"{where}.interface {index!r} does not index interfaces")
    entry = interfaces[index]
    return entry.get("name") if isinstance(entry, dict) else None


# --------------------------------------------------------------------------------------------
# Requests

@dataclass(frozen=True)
class Attachment:
    """One (containerID, ifname) the runtime still uses, from a GC request."""

    container_id: str
    if_name: str


@dataclass(frozen=True)
class CniRequest:
    command: str
    container_id: str
    netns: str
    if_name: str
    args: dict[str, str]  # parsed CNI_ARGS
    path: str
    config: dict[str, Any]  # the whole stdin network configuration
    cni_version: str

    @property
    def network_name(self) -> str:
        return self.config["name"]

    @property
    def ipam(self) -> dict[str, Any]:
        return self.config["ipam"]

    @property
    def pod_namespace(self) -> str | None:
        return self.args.get("K8S_POD_NAMESPACE")

    @property
    def pod_name(self) -> str | None:
        return self.args.get("K8S_POD_NAME")

    @property
    def pod_uid(self) -> str | None:
        return self.args.get("K8S_POD_UID")

    @property
    def prev_result(self) -> IpamResult | None:
        """CHECK's (and, when given, DEL's) previous result; CniError 6 when unreadable."""
        raw = self.config.get("prevResult")
        return None if raw is None else parse_result(raw)

    @property
    def valid_attachments(self) -> tuple[Attachment, ...] | None:
        """GC: what must be kept. None (not "nothing") when the runtime sent no list."""
        return parse_attachments(self.config)

    @property
    def requested_ips(self) -> tuple[str, ...]:
        """IPs asked for through the `ips` capability or `args.cni.ips` (Multus); the agent decides."""
        runtime = self.config.get("runtimeConfig")
        args = self.config.get("args")
        found = (runtime.get("ips") if isinstance(runtime, dict) else None) or (
            args.get("cni", {}).get("ips") if isinstance(args, dict) and isinstance(args.get("cni"), dict) else None)
        return tuple(found) if isinstance(found, list) else ()

    def to_body(self) -> dict[str, Any]:
        """The agent request body the plugin sends for this request."""
        return {"command": self.command, "containerID": self.container_id, "netns": self.netns,
                "ifName": self.if_name, "cniArgs": dict(self.args), "path": self.path, "config": self.config}


parse_cni_args = wire.parse_cni_args  # `K=V;K2=V2` -> dict; a segment without `=` is CniError 4


def parse_request(environ: Mapping[str, str], stdin: bytes | str) -> CniRequest:
    """What a runtime hands a plugin (env + stdin) -> a validated CniRequest, or CniError."""
    command = _command(environ.get("CNI_COMMAND", ""))
    _require(command, {name: environ.get(name, "") for name in REQUIRED_ENV.get(command, ())})
    args = parse_cni_args(environ.get("CNI_ARGS", ""))
    return _validated(command, environ.get("CNI_CONTAINERID", ""), environ.get("CNI_NETNS", ""),
                      environ.get("CNI_IFNAME", ""), args, environ.get("CNI_PATH", ""), decode_config(stdin))


def request_from_body(body: Any) -> CniRequest:
    """The agent's side: the plugin's JSON body -> the same validated CniRequest."""
    if not isinstance(body, dict):
        raise CniError(Code.DECODE_FAILURE, "the request body is not a JSON object")
    fields = {key: body.get(key, "") for key in ("command", "containerID", "netns", "ifName", "path")}
    for key, value in fields.items():
        if not isinstance(value, str):
            raise CniError(Code.DECODE_FAILURE, f"the request body's {key} is not a string")
    args = body.get("cniArgs") or {}
    if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
        raise CniError(Code.DECODE_FAILURE, "the request body's cniArgs is not an object of strings")
    command = _command(fields["command"])
    env_of = {"CNI_CONTAINERID": "containerID", "CNI_NETNS": "netns", "CNI_IFNAME": "ifName", "CNI_PATH": "path"}
    _require(command, {name: fields[env_of[name]] for name in REQUIRED_ENV.get(command, ())})
    return _validated(command, fields["containerID"], fields["netns"], fields["ifName"], dict(args),
                      fields["path"], body.get("config"))


def decode_config(stdin: bytes | str) -> Any:
    if isinstance(stdin, bytes):
        try:
            stdin = stdin.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CniError(Code.DECODE_FAILURE, f"the network configuration on stdin is not UTF-8: {exc}") from None
    if not stdin.strip():
        raise CniError(Code.DECODE_FAILURE, "no network configuration on stdin")
    try:
        return json.loads(stdin)
    except ValueError as exc:
        raise CniError(Code.DECODE_FAILURE, f"the network configuration on stdin is not JSON: {exc}") from None


def _command(command: str) -> str:
    if not command:
        raise CniError(Code.INVALID_ENVIRONMENT, "CNI_COMMAND is not set")
    if command not in COMMANDS:
        raise CniError(Code.INVALID_ENVIRONMENT, f"CNI_COMMAND {command!r} is unknown",
                       f"expected one of {', '.join(COMMANDS)}")
    if command == "VERSION":
        raise CniError(Code.INVALID_ENVIRONMENT, "VERSION is answered by the plugin, not parsed as a request")
    return command


_require = wire.require


def _validated(command: str, container_id: str, netns: str, if_name: str, args: dict[str, str], path: str,
               config: Any) -> CniRequest:
    if container_id:
        check_container_id(container_id)
    if if_name:
        check_if_name(if_name)
    if not isinstance(config, dict):
        raise CniError(Code.DECODE_FAILURE, "the network configuration on stdin is not a JSON object")
    version = check_version(config, command)
    if not isinstance(config.get("name"), str) or not config["name"]:
        raise CniError(Code.INVALID_NETWORK_CONFIG, "the network configuration has no name")
    check_ipam_section(config.get("ipam"))
    request = CniRequest(command, container_id, netns, if_name, args, path, config, version)
    if command == "CHECK":
        if request.prev_result is None:
            raise CniError(Code.INVALID_NETWORK_CONFIG, "CHECK needs prevResult in the network configuration")
    if command == "GC" and request.valid_attachments is None:
        raise CniError(Code.INVALID_NETWORK_CONFIG,
                       f"GC needs {VALID_ATTACHMENTS_KEYS[0]} in the network configuration (refusing to treat "
                       "a missing list as 'nothing is in use')")
    return request


check_container_id = wire.check_container_id


def check_if_name(if_name: str) -> None:
    if len(if_name) > IFNAME_MAX or if_name in (".", "..") or any(c in "/: \t\n" for c in if_name):
        raise CniError(Code.INVALID_ENVIRONMENT, f"CNI_IFNAME {if_name!r} is not a valid interface name",
                       f"at most {IFNAME_MAX} characters, no '/', ':' or whitespace, not '.' or '..'")


check_version = wire.check_version  # the config's cniVersion when we speak it and it has the command


def check_ipam_section(ipam: Any) -> None:
    """Code 7 for a missing or mistyped section or key, 2 for a key this plugin does not know."""
    if not isinstance(ipam, dict):
        raise CniError(Code.INVALID_NETWORK_CONFIG, "the network configuration has no ipam object")
    for key, value in ipam.items():
        expected = IPAM_KEYS.get(key)
        if expected is None:
            raise CniError(Code.UNSUPPORTED_FIELD, f"ipam.{key} is not supported by the spiderpool plugin",
                           f"ipam.{key} = {json.dumps(value)}; known keys: {', '.join(IPAM_KEYS)}")
        if not _has_type(value, expected):
            raise CniError(Code.INVALID_NETWORK_CONFIG, f"ipam.{key} must be {expected}, not {json.dumps(value)}")
    level = ipam.get("log_level")
    if level is not None and level.lower() not in LOG_LEVELS:
        raise CniError(Code.INVALID_NETWORK_CONFIG, f"ipam.log_level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    socket_path = ipam.get("ipam_unix_socket_path")
    if socket_path is not None and not socket_path.startswith("/"):
        raise CniError(Code.INVALID_NETWORK_CONFIG, f"ipam.ipam_unix_socket_path {socket_path!r} is not absolute")


def _has_type(value: Any, expected: str) -> bool:
    if expected == "a string":
        return isinstance(value, str)
    if expected == "a boolean":
        return isinstance(value, bool)
    if expected == "a non-negative integer":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse_attachments(config: Mapping[str, Any]) -> tuple[Attachment, ...] | None:
    """GC's keep-list (`cni.dev/valid-attachments`, else the older `cni.dev/attachments`); None if absent."""
    for key in VALID_ATTACHMENTS_KEYS:
        if key in config:
            break
    else:
        return None
    raw = config[key]
    if not isinstance(raw, list):
        raise CniError(Code.INVALID_NETWORK_CONFIG, f"{key} is not a list")
    out = []
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and isinstance(item.get("containerID"), str)
                and isinstance(item.get("ifname"), str) and item["containerID"]):
            raise CniError(Code.INVALID_NETWORK_CONFIG, f"{key}[{i}] needs containerID and ifname strings")
        out.append(Attachment(item["containerID"], item["ifname"]))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# The agent's answer

@dataclass(frozen=True)
class Reply:
    """What the agent returns and the plugin acts out: exact stdout bytes and the exit code."""

    exit_code: int
    stdout: str

    @classmethod
    def ok(cls) -> Reply:  # DEL, CHECK, GC, STATUS print nothing on success
        return cls(0, "")

    @classmethod
    def of_result(cls, result: IpamResult, cni_version: str) -> Reply:
        return cls(0, render_result(result, cni_version))

    @classmethod
    def of_error(cls, error: CniError, cni_version: str | None) -> Reply:
        return cls(1, error.render(cni_version))

    def to_body(self) -> dict[str, Any]:
        return {"exitCode": self.exit_code, "stdout": self.stdout}
