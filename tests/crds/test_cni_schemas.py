"""The CNI config schemas take what the seeds and our renderer write, and refuse mistakes.

`schemas/cni-ipam-spiderpool.schema.json` describes the `ipam` section handed to the
spiderpool IPAM plugin, `schemas/cni-coordinator.schema.json` one coordinator entry of
a plugin chain. The rendered NADs are checked against them in
test_crd_compatibility.py; here each schema meets hand-picked good and bad sections.
"""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

import schemas

IPAM = "cni-ipam-spiderpool.schema.json"
COORDINATOR = "cni-coordinator.schema.json"


def errors(schema_name: str, instance: dict) -> list[str]:
    validator = Draft202012Validator(schemas.load_json(schema_name))
    return [e.message for e in validator.iter_errors(instance)]


@pytest.mark.parametrize("name", [IPAM, COORDINATOR])
def test_schema_is_draft_2020_12_with_its_own_id(name):
    schema = schemas.load_json(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://spidernet.io/spiderpool-gitops/schemas/{name}"


GOOD = [
    (IPAM, "the type alone", {"type": "spiderpool"}),
    (IPAM, "seed 002's default pool", {"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"]}),
    (IPAM, "every key, log level in upper case as upstream's docs write it", {
        "type": "spiderpool", "default_ipv4_ippool": ["v4-a", "v4-b"], "default_ipv6_ippool": ["v6-a"],
        "ipam_unix_socket_path": "/var/run/spidernet/spiderpool.sock", "log_level": "INFO",
        "log_file_path": "/var/log/spidernet/spiderpool.log", "log_file_max_size": 100, "log_file_max_age": 30,
        "log_file_max_count": 7, "clean_gateway": False, "match_master_subnet": True}),
    (COORDINATOR, "the type alone", {"type": "coordinator"}),
    (COORDINATOR, "what the renderer writes for seed 002", {"type": "coordinator", "mode": "overlay"}),
    (COORDINATOR, "seed 002's upstream entry, typo in the type fixed", {
        "type": "coordinator", "ipam": {}, "dns": {}, "detectGateway": False, "tunePodRoutes": True,
        "mode": "overlay", "hostRuleTable": 500, "detectIPConflict": False}),
    (COORDINATOR, "every option", {
        "type": "coordinator", "name": "macvlan-ens192", "cniVersion": "1.0.0", "mode": "underlay",
        "tunePodRoutes": True, "podDefaultRouteNic": "net1", "hijackCIDR": ["169.254.0.0/16", "fd00:ff::/64"],
        "podRPFilter": -1, "txQueueLen": 1000, "podMACPrefix": "0a:1b", "hostRuleTable": 500,
        "detectGateway": True, "detectIPConflict": True,
        "policyRoutes": [{"dst": "10.7.0.0/16", "gw": "10.6.0.254"}, {"dst": "fd00:7::1", "gw": "fd00:6::fe"}],
        "prevResult": {"cniVersion": "1.0.0", "ips": []}, "runtimeConfig": {}, "args": {},
        "capabilities": {"mac": True}}),
]


@pytest.mark.parametrize("name, why, section", GOOD, ids=[f"{n}: {w}" for n, w, _ in GOOD])
def test_schema_accepts(name, why, section):
    assert errors(name, section) == []


BAD = [
    (IPAM, "another IPAM type", {"type": "host-local"}),
    (IPAM, "no type", {"default_ipv4_ippool": ["10-6-v4"]}),
    (IPAM, "a pool list given as a string", {"type": "spiderpool", "default_ipv4_ippool": "10-6-v4"}),
    (IPAM, "a pool name that is not DNS-1123", {"type": "spiderpool", "default_ipv4_ippool": ["Pool_A"]}),
    (IPAM, "a log level zap does not know", {"type": "spiderpool", "log_level": "verbose"}),
    (IPAM, "a relative socket path", {"type": "spiderpool", "ipam_unix_socket_path": "spiderpool.sock"}),
    (IPAM, "host-local's range key", {"type": "spiderpool", "range": "10.6.0.0/16"}),
    (IPAM, "log size as upstream's docs misprint it", {"type": "spiderpool", "log_file_max_size": "100M"}),
    (COORDINATOR, "seed 002's misspelt type", {"type": "coordinattor", "mode": "overlay"}),
    (COORDINATOR, "an unknown mode", {"type": "coordinator", "mode": "bridge"}),
    (COORDINATOR, "rp_filter 3", {"type": "coordinator", "podRPFilter": 3}),
    (COORDINATOR, "a multicast MAC prefix", {"type": "coordinator", "podMACPrefix": "0b:11"}),
    (COORDINATOR, "a hijack CIDR without a prefix", {"type": "coordinator", "hijackCIDR": ["169.254.0.0"]}),
    (COORDINATOR, "a negative txQueueLen", {"type": "coordinator", "txQueueLen": -1}),
    (COORDINATOR, "host rule table 0", {"type": "coordinator", "hostRuleTable": 0}),
    (COORDINATOR, "a policy route without gw", {"type": "coordinator", "policyRoutes": [{"dst": "10.7.0.0/16"}]}),
    (COORDINATOR, "a key the plugin does not take", {"type": "coordinator", "vlan": 0}),
    (COORDINATOR, "an IPAM section on the coordinator", {"type": "coordinator", "ipam": {"type": "spiderpool"}}),
    (COORDINATOR, "a CNI version nobody speaks", {"type": "coordinator", "cniVersion": "0.2.0"}),
]


@pytest.mark.parametrize("name, why, section", BAD, ids=[f"{n}: {w}" for n, w, _ in BAD])
def test_schema_refuses(name, why, section):
    assert errors(name, section), f"{why} was accepted"
