"""Validation rules that need more than one example file to show (the one-rule-per-file
cases live in examples/invalid/ and are checked by tests/examples/)."""

from __future__ import annotations

import pytest

from reconciler.errors import SpecInvalid
from reconciler.pipeline import load_and_validate


def messages(path) -> list[str]:
    with pytest.raises(SpecInvalid) as caught:
        load_and_validate(path)
    return [f"{e.path}: {e.message}" for e in caught.value.errors]


def test_a_slash_8_with_overlapping_slash_16_pools_is_judged_by_ranges(write_spec):
    # 2**24 addresses: anything that enumerated them would never finish.
    path = write_spec("""\
        spec:
          subnets:
            - {name: big, subnet: 10.0.0.0/8, ips: [10.0.0.1-10.255.255.254], gateway: 10.0.0.0}
          ippools:
            - {name: a, subnet: 10.0.0.0/8, ips: [10.1.0.0-10.2.255.255]}
            - {name: b, subnet: 10.0.0.0/8, ips: [10.2.128.0-10.3.255.255]}
            - {name: c, subnet: 10.0.0.0/8, ips: [10.4.0.0-10.4.255.255], excludeIPs: [10.4.0.0-10.4.255.255]}
            - {name: d, subnet: 10.0.0.0/8, ips: [10.4.0.0-10.4.255.255]}
        """)
    assert messages(path) == ["spec.ippools[1].ips: shares 10.2.128.0-10.2.255.255 with pool 'a'; an IP belongs to one pool"]


def test_all_errors_come_at_once_in_file_order(write_spec):
    path = write_spec("""\
        spec:
          subnets:
            - {name: s, subnet: 10.6.0.0/16, gateway: 10.9.0.1, routes: [{dst: 0.0.0.0/0, gw: 10.6.0.1}]}
          ippools:
            - {name: p, subnet: 10.6.0.0/16, ips: [10.6.9.9-10.6.9.1], zones: [z]}
          networks:
            - {name: n, type: macvlan, ippools: {ipv4: [nope]}}
        """)
    assert messages(path) == [
        "spec.subnets[0].gateway: gateway 10.9.0.1 is not inside the subnet 10.6.0.0/16",
        "spec.subnets[0].routes[0].dst: 0.0.0.0/0 is the default route; it comes from the gateway, not from routes",
        "spec.ippools[0].ips[0]: range '10.6.9.9-10.6.9.1' starts after it ends",
        "spec.ippools[0].zones[0]: zone 'z' is not defined in spec.zones",
        "spec.networks[0]: a macvlan network needs 'master'",
        "spec.networks[0].ippools.ipv4[0]: pool 'nope' is not defined in spec.ippools",
    ]


def test_pools_of_different_families_never_collide(write_spec):
    path = write_spec("""\
        spec:
          ippools:
            - {name: v4, subnet: 10.6.0.0/16, ips: [10.6.0.1-10.6.0.9]}
            - {name: v6, subnet: 'fd00:6::/64', ips: ['fd00:6::1-fd00:6::9']}
          networks:
            - {name: n, type: macvlan, master: ens192, ippools: {ipv4: [v4], ipv6: [v6]}}
        """)
    assert [p.name for p in load_and_validate(path).spec.ippools] == ["v4", "v6"]


def test_families_must_be_enabled(write_spec):
    path = write_spec("""\
        spec:
          cluster: {ipVersions: [4]}
          ippools:
            - {name: v6, subnet: 'fd00:6::/64'}
        """)
    assert messages(path) == ["spec.ippools[0].subnet: IPv6 is not enabled: spec.cluster.ipVersions is [4]"]


def test_a_gateway_that_is_excluded_from_the_ips_is_fine(write_spec):
    path = write_spec("""\
        spec:
          ippools:
            - {name: p, subnet: 10.6.0.0/16, ips: [10.6.0.1-10.6.0.9], excludeIPs: [10.6.0.1], gateway: 10.6.0.1}
        """)
    assert load_and_validate(path).spec.ippools[0].gateway == "10.6.0.1"


def test_unknown_fields_suggest_the_close_spelling(write_spec):
    path = write_spec("spec:\n  ippools:\n    - {name: p, subnet: 10.6.0.0/16, gatway: 10.6.0.1}\n")
    [message] = messages(path)
    assert message == "spec.ippools[0].gatway: unknown field 'gatway' (did you mean 'gateway'?)"
