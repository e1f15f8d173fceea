"""cni.protocol: requests, results, errors and VERSION as the CNI spec words them."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from cni import protocol
from cni.protocol import (Attachment, CniError, CniRequest, Dns, IpamResult, IpConfig, Reply, Route, parse_attachments,
                          parse_cni_args, parse_request, parse_result, render_result, render_version,
                          request_from_body, result_dict)
from tests.cni.conftest import netconf, runtime_env

DUAL_STACK = IpamResult(
    ips=[IpConfig("10.6.212.145/16", "10.6.0.1"), IpConfig("fd00:10:6::d391/64")],
    routes=[Route("10.7.0.0/16", "10.6.0.1"), Route("0.0.0.0/0", "10.6.0.1", mtu=1400, priority=100, table=101)],
    dns=Dns(nameservers=("10.6.0.53",), search=("svc.cluster.local",)),
)


def request(command: str = "ADD", config=None, **env) -> CniRequest:
    return parse_request(runtime_env(command, **env), json.dumps(config if config is not None else netconf()))


def refusal(command: str, config, **env) -> CniError:
    stdin = config if isinstance(config, bytes) else json.dumps(config)
    with pytest.raises(CniError) as caught:
        parse_request(runtime_env(command, **env), stdin)
    return caught.value


# ---------------------------------------------------------------------------- rendering results

@pytest.mark.parametrize(("version", "expected"), [
    ("0.3.1", {"cniVersion": "0.3.1",
               "ips": [{"version": "4", "address": "10.6.212.145/16", "gateway": "10.6.0.1"},
                       {"version": "6", "address": "fd00:10:6::d391/64"}],
               "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}, {"dst": "0.0.0.0/0", "gw": "10.6.0.1"}],
               "dns": {"nameservers": ["10.6.0.53"], "search": ["svc.cluster.local"]}}),
    ("0.4.0", {"cniVersion": "0.4.0",
               "ips": [{"version": "4", "address": "10.6.212.145/16", "gateway": "10.6.0.1"},
                       {"version": "6", "address": "fd00:10:6::d391/64"}],
               "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}, {"dst": "0.0.0.0/0", "gw": "10.6.0.1"}],
               "dns": {"nameservers": ["10.6.0.53"], "search": ["svc.cluster.local"]}}),
    ("1.0.0", {"cniVersion": "1.0.0",
               "ips": [{"address": "10.6.212.145/16", "gateway": "10.6.0.1"}, {"address": "fd00:10:6::d391/64"}],
               "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}, {"dst": "0.0.0.0/0", "gw": "10.6.0.1"}],
               "dns": {"nameservers": ["10.6.0.53"], "search": ["svc.cluster.local"]}}),
    ("1.1.0", {"cniVersion": "1.1.0",
               "ips": [{"address": "10.6.212.145/16", "gateway": "10.6.0.1"}, {"address": "fd00:10:6::d391/64"}],
               "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"},
                          {"dst": "0.0.0.0/0", "gw": "10.6.0.1", "mtu": 1400, "priority": 100, "table": 101}],
               "dns": {"nameservers": ["10.6.0.53"], "search": ["svc.cluster.local"]}}),
])
def test_a_result_renders_in_the_abbreviated_ipam_form_of_each_version(version, expected):
    assert result_dict(DUAL_STACK, version) == expected
    assert json.loads(render_result(DUAL_STACK, version)) == expected


def test_an_empty_result_keeps_dns_and_drops_empty_lists_like_host_local():
    assert result_dict(IpamResult(), "1.0.0") == {"cniVersion": "1.0.0", "dns": {}}


def test_a_result_cannot_be_rendered_in_a_version_we_do_not_speak():
    with pytest.raises(ValueError, match="0.2.0"):
        result_dict(DUAL_STACK, "0.2.0")


@pytest.mark.parametrize("version", protocol.SUPPORTED_VERSIONS)
def test_a_rendered_result_parses_back_to_the_same_values(version):
    parsed = parse_result(result_dict(DUAL_STACK, version))
    assert parsed.ips == DUAL_STACK.ips and parsed.dns == DUAL_STACK.dns
    assert parsed.routes[0] == DUAL_STACK.routes[0]


# ---------------------------------------------------------------------------- errors and VERSION

@pytest.mark.parametrize(("requested", "written"), [("0.4.0", "0.4.0"), ("1.1.0", "1.1.0"), ("0.2.0", "1.1.0"),
                                                    (None, "1.1.0")])
def test_an_error_names_the_requested_version_when_we_speak_it(requested, written):
    error = CniError(protocol.Code.TRY_AGAIN_LATER, "agent busy", "retry")
    assert json.loads(error.render(requested)) == {"cniVersion": written, "code": 11, "msg": "agent busy",
                                                   "details": "retry"}


@pytest.mark.parametrize(("stdin", "version"), [(b'{"cniVersion": "0.4.0"}', "0.4.0"), (b"", "1.1.0"),
                                                (b"garbage", "1.1.0"), (b'{"cniVersion": "9.0.0"}', "9.0.0")])
def test_version_echoes_the_input_version_and_lists_what_we_support(stdin, version):
    assert json.loads(render_version(stdin)) == {
        "cniVersion": version, "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}


def test_replies_carry_exact_stdout_and_exit_code():
    assert Reply.ok().to_body() == {"exitCode": 0, "stdout": ""}
    assert Reply.of_result(DUAL_STACK, "1.0.0").to_body() == {"exitCode": 0,
                                                              "stdout": render_result(DUAL_STACK, "1.0.0")}
    failed = Reply.of_error(CniError(7, "bad"), "0.3.1").to_body()
    assert failed["exitCode"] == 1 and json.loads(failed["stdout"])["code"] == 7


# ---------------------------------------------------------------------------- parsing requests

def test_an_add_request_carries_the_pod_the_network_and_the_whole_config():
    req = request("ADD", netconf("0.3.1", default_ipv4_ippool=["pool-a"]))
    assert (req.command, req.container_id, req.netns, req.if_name, req.path) == (
        "ADD", "4f1c0ffee", "/var/run/netns/cni-1234", "net1", "/opt/cni/bin")
    assert (req.pod_namespace, req.pod_name, req.cni_version, req.network_name) == (
        "default", "web-0", "0.3.1", "macvlan-ens192")
    assert req.pod_uid == "0b7e5a9c-1f2e-4c55-9d6b-6f1a2b3c4d5e"
    assert req.ipam["default_ipv4_ippool"] == ["pool-a"]


@pytest.mark.parametrize(("command", "overrides"), [
    ("DEL", {}),
    ("GC", {}),
    ("STATUS", {}),
])
def test_del_gc_and_status_need_less_environment(command, overrides):
    config = netconf("1.1.0")
    if command == "GC":
        config["cni.dev/valid-attachments"] = []
    req = parse_request(runtime_env(command, **overrides), json.dumps(config))
    assert req.command == command and req.netns == ""


@pytest.mark.parametrize(("env", "config", "code", "words"), [
    (runtime_env("ADD", CNI_CONTAINERID=None), netconf(), 4, "ADD needs CNI_CONTAINERID, which is not set"),
    (runtime_env("CHECK", CNI_NETNS=None, CNI_PATH=""), netconf(), 4, "CHECK needs CNI_NETNS, CNI_PATH, which are"),
    (runtime_env("DEL", CNI_IFNAME=None), netconf(), 4, "DEL needs CNI_IFNAME"),
    (runtime_env("STATUS", CNI_PATH=None), netconf("1.1.0"), 4, "STATUS needs CNI_PATH"),
    (runtime_env("ADD", CNI_COMMAND=None), netconf(), 4, "CNI_COMMAND is not set"),
    (runtime_env("ADD", CNI_COMMAND="add"), netconf(), 4, "CNI_COMMAND 'add' is unknown"),
    (runtime_env("ADD", CNI_CONTAINERID="_x"), netconf(), 4, "CNI_CONTAINERID '_x' has invalid characters"),
    (runtime_env("ADD", CNI_CONTAINERID="ab c"), netconf(), 4, "CNI_CONTAINERID 'ab c'"),
    (runtime_env("ADD", CNI_CONTAINERID="é1"), netconf(), 4, "has invalid characters"),
    (runtime_env("ADD", CNI_IFNAME="a-very-long-ifname"), netconf(), 4, "CNI_IFNAME 'a-very-long-ifname'"),
    (runtime_env("ADD", CNI_IFNAME="eth0:1"), netconf(), 4, "is not a valid interface name"),
    (runtime_env("ADD", CNI_ARGS="A=1;B"), netconf(), 4, "CNI_ARGS: 'B' is not KEY=VALUE"),
    (runtime_env("ADD"), b"{", 6, "not JSON"),
    (runtime_env("ADD"), b"  ", 6, "no network configuration"),
    (runtime_env("ADD"), b"\xc3", 6, "not UTF-8"),
    (runtime_env("ADD"), "a string", 6, "not a JSON object"),
    (runtime_env("ADD"), {**netconf(), "cniVersion": None}, 7, "has no cniVersion"),
    (runtime_env("ADD"), {**netconf(), "cniVersion": 1}, 7, "cniVersion 1 is not a string"),
    (runtime_env("ADD"), {**netconf(), "cniVersion": "0.2.0"}, 1, "incompatible CNI versions"),
    (runtime_env("CHECK"), {**netconf(), "cniVersion": "0.3.1"}, 1, "cniVersion 0.3.1 does not have CHECK"),
    (runtime_env("GC"), {**netconf(), "cniVersion": "1.0.0"}, 1, "cniVersion 1.0.0 does not have GC"),
    (runtime_env("ADD"), {**netconf(), "name": ""}, 7, "has no name"),
    (runtime_env("ADD"), {k: v for k, v in netconf().items() if k != "ipam"}, 7, "has no ipam object"),
    (runtime_env("ADD"), netconf(subnet="10.0.0.0/8"), 2, "ipam.subnet is not supported"),
    (runtime_env("ADD"), netconf(default_ipv4_ippool="pool-a"), 7, "ipam.default_ipv4_ippool must be a list of"),
    (runtime_env("ADD"), netconf(clean_gateway="yes"), 7, "ipam.clean_gateway must be a boolean"),
    (runtime_env("ADD"), netconf(log_file_max_size=-1), 7, "ipam.log_file_max_size must be a non-negative integer"),
    (runtime_env("ADD"), netconf(log_level="trace"), 7, "ipam.log_level 'trace' is not one of"),
    (runtime_env("ADD"), netconf(ipam_unix_socket_path="agent.sock"), 7, "is not absolute"),
    (runtime_env("CHECK"), netconf("1.0.0"), 7, "CHECK needs prevResult"),
    (runtime_env("CHECK"), {**netconf("1.0.0"), "prevResult": {"ips": [{"address": "10.1.1.1"}]}}, 6,
     "ips[0].address '10.1.1.1' is not an address/prefix"),
    (runtime_env("GC"), netconf("1.1.0"), 7, "GC needs cni.dev/valid-attachments"),
    (runtime_env("GC"), {**netconf("1.1.0"), "cni.dev/valid-attachments": [{"containerID": "a"}]}, 7,
     "cni.dev/valid-attachments[0] needs containerID and ifname"),
])
def test_a_bad_request_is_refused_with_the_spec_code_naming_the_cause(env, config, code, words):
    stdin = config if isinstance(config, bytes) else json.dumps(config)
    with pytest.raises(CniError) as caught:
        parse_request(env, stdin)
    assert caught.value.code == code and words in caught.value.msg


def test_the_unsupported_field_error_names_the_key_and_its_value():
    error = refusal("ADD", netconf(routes=[{"dst": "0.0.0.0/0"}]))
    assert error.code == 2 and "ipam.routes" in error.msg and '"dst": "0.0.0.0/0"' in error.details


def test_cni_args_skip_empty_segments_and_keep_equals_in_values():
    assert parse_cni_args("IgnoreUnknown=1;;K8S_POD_NAME=a=b;") == {"IgnoreUnknown": "1", "K8S_POD_NAME": "a=b"}
    assert parse_cni_args("") == {}


# ---------------------------------------------------------------------------- the agent's side

@pytest.mark.parametrize("command", ["ADD", "DEL", "STATUS"])
def test_the_agent_body_parses_back_to_the_same_request(command):
    original = request(command, netconf("1.1.0"))
    assert request_from_body(json.loads(json.dumps(original.to_body()))) == original


@pytest.mark.parametrize(("body", "code", "words"), [
    ([], 6, "not a JSON object"),
    ({"command": "ADD", "containerID": 5}, 6, "containerID is not a string"),
    ({"command": "ADD", "cniArgs": {"K": 1}}, 6, "cniArgs is not an object of strings"),
    ({"command": "ADD", "containerID": "c", "ifName": "e", "path": "/p", "config": netconf()}, 4,
     "ADD needs CNI_NETNS"),
    ({"command": "DEL", "containerID": "c", "ifName": "e", "path": "/p", "config": "{}"}, 6, "not a JSON object"),
    ({"command": "VERSION"}, 4, "VERSION is answered by the plugin"),
])
def test_a_bad_agent_body_is_refused_with_a_cni_error(body, code, words):
    with pytest.raises(CniError) as caught:
        request_from_body(body)
    assert caught.value.code == code and words in caught.value.msg


def test_check_gets_the_previous_result_with_interface_names_resolved():
    prev = {"cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "sandbox": "/x"}, {"name": "net1", "sandbox": "/x"}],
            "ips": [{"address": "10.6.212.145/16", "gateway": "10.6.0.1", "interface": 1},
                    {"address": "172.16.0.9/24", "interface": 0}],
            "routes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.1"}], "dns": {}}
    req = request("CHECK", {**netconf("1.0.0"), "prevResult": prev})
    assert req.prev_result == IpamResult(
        ips=[IpConfig("10.6.212.145/16", "10.6.0.1", "net1"), IpConfig("172.16.0.9/24", None, "eth0")],
        routes=[Route("10.7.0.0/16", "10.6.0.1")])


@pytest.mark.parametrize(("prev", "words"), [
    ("nope", "not a JSON object"),
    ({"ips": {}}, "ips is not a list"),
    ({"ips": [{"address": "10.0.0.1/24", "interface": 3}], "interfaces": []}, "does not index interfaces"),
    ({"ips": [{"address": "10.0.0.1/24", "gateway": "10.0.0.300"}]}, "gateway '10.0.0.300' is not an IP"),
    ({"routes": [{"gw": "10.0.0.1"}]}, "routes[0] has no dst"),
])
def test_an_unreadable_previous_result_is_a_decode_failure(prev, words):
    with pytest.raises(CniError) as caught:
        parse_result(prev)
    assert caught.value.code == 6 and words in caught.value.msg


@pytest.mark.parametrize(("config", "expected"), [
    ({"cni.dev/valid-attachments": [{"containerID": "a1", "ifname": "net1"}]}, (Attachment("a1", "net1"),)),
    ({"cni.dev/attachments": [{"containerID": "b2", "ifname": "eth0"}]}, (Attachment("b2", "eth0"),)),
    ({"cni.dev/valid-attachments": [], "cni.dev/attachments": [{"containerID": "b2", "ifname": "e"}]}, ()),
    ({}, None),
])
def test_gc_reads_the_newer_attachment_key_first_and_tells_missing_from_empty(config, expected):
    assert parse_attachments(config) == expected


def test_requested_ips_come_from_the_ips_capability_or_multus_args():
    assert request(config={**netconf(), "runtimeConfig": {"ips": ["10.6.0.9/16"]}}).requested_ips == ("10.6.0.9/16",)
    assert request(config={**netconf(), "args": {"cni": {"ips": ["10.6.0.8"]}}}).requested_ips == ("10.6.0.8",)
    assert request().requested_ips == ()


def test_the_protocol_module_uses_only_the_standard_library():
    """Itself, and through the plugin kit it takes its tables from (which the plugins carry inlined)."""
    for path in (Path(protocol.__file__), Path(protocol.__file__).with_name("pluginwire.py")):
        tree = ast.parse(path.read_text())
        relative = {node.module or alias.name for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.level for alias in node.names}
        names = {(node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
                 for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                 and not getattr(node, "level", 0) for alias in node.names}
        assert names <= set(sys.stdlib_module_names) and relative <= {"pluginwire"}, path.name
