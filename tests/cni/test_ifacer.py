"""The `ifacer` plugin: its config, what it makes (against a model of the kernel's link rules), the
netlink requests it sends (decoded by pyroute2, the project's netlink library) and the CNI verbs.

The plugin in a real node namespace, with a real macvlan on the VLAN it makes, is in
`tests/netns/test_vlan.py`.
"""

from __future__ import annotations

import errno
import json
import struct
from pathlib import Path

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from cni import ifacer
from cni.install import bundled_source
from tests.coordinator.test_purity import imported

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": "eth0",
       "CNI_PATH": "/opt/cni/bin"}


class KernelModel:
    """Links by name with the rules the plugin relies on: unique names (EEXIST), a bond enslaves only an
    interface that is down (EBUSY), a VLAN's parent must exist. Records every change."""

    def __init__(self, *names: str, up: bool = True):
        self.links: dict[str, ifacer.Link] = {}
        self.calls: list[tuple] = []
        self.options: dict[tuple[str, str], str] = {}
        for name in names:
            self._new(name, up=up)

    def _new(self, name, **fields):
        link = ifacer.Link(name, len(self.links) + 2, fields.pop("up", False), **fields)
        self.links[name] = link
        return link

    def by_index(self, index):
        return next(link for link in self.links.values() if link.index == index)

    def link(self, name):
        return self.links.get(name)

    def set_up(self, index, up):
        self.calls.append(("up" if up else "down", self.by_index(index).name))
        self.by_index(index).up = up

    def add_vlan(self, name, parent, vlan_id):
        self.calls.append(("add_vlan", name, self.by_index(parent).name, vlan_id))
        if name in self.links:
            raise OSError(errno.EEXIST, "File exists")
        self._new(name, kind="vlan", vlan_id=vlan_id, parent=parent)

    def add_bond(self, name, mode):
        self.calls.append(("add_bond", name, mode))
        if name in self.links:
            raise OSError(errno.EEXIST, "File exists")
        self._new(name, kind="bond")

    def enslave(self, index, master):
        slave = self.by_index(index)
        self.calls.append(("enslave", slave.name, self.by_index(master).name))
        if slave.up:
            raise OSError(errno.EBUSY, "Device or resource busy")
        slave.master = master

    def bond_option(self, bond, key, value):
        self.calls.append(("option", bond, key, value))
        self.options[(bond, key)] = value

    def close(self):
        pass


def conf(**fields):
    return {"cniVersion": "1.0.0", "name": "vlan100", "type": "ifacer", **fields}


def add(kernel, config, command="ADD"):
    return ifacer.run({**ENV, "CNI_COMMAND": command}, json.dumps(config).encode(), lambda: kernel)


# -- what ADD makes ------------------------------------------------------------------------------------

def test_add_makes_the_vlan_on_the_master_sets_it_up_and_passes_an_empty_result_on():
    kernel = KernelModel("ens192", up=False)
    code, out = add(kernel, conf(interfaces=["ens192"], vlanID=100))
    assert code == 0, out
    vlan = kernel.links["ens192.100"]
    assert (vlan.kind, vlan.vlan_id, vlan.parent, vlan.up) == ("vlan", 100, kernel.links["ens192"].index, True)
    assert kernel.links["ens192"].up  # a master that was down is brought up, as upstream does
    assert json.loads(out) == {"cniVersion": "1.0.0", "dns": {}}


def test_a_second_add_changes_nothing():
    kernel = KernelModel("ens192")
    add(kernel, conf(interfaces=["ens192"], vlanID=100))
    kernel.calls.clear()
    code, _ = add(kernel, conf(interfaces=["ens192"], vlanID=100))
    assert code == 0 and kernel.calls == []


def test_a_vlan_made_meanwhile_by_another_pods_add_is_accepted():
    kernel = KernelModel("ens192")
    real_link = kernel.link
    raced = []

    def link(name):  # the first look finds nothing; another ADD creates it before ours
        if name == "ens192.100" and not raced:
            raced.append(name)
            kernel._new("ens192.100", kind="vlan", vlan_id=100, parent=kernel.links["ens192"].index, up=True)
            return None
        return real_link(name)

    kernel.link = link
    code, out = add(kernel, conf(interfaces=["ens192"], vlanID=100))
    assert code == 0, out
    assert ("add_vlan", "ens192.100", "ens192", 100) in kernel.calls  # tried, got EEXIST, checked what is there


@pytest.mark.parametrize("existing, message", [
    ({"kind": "", "up": True}, "ens192.100 exists but is a plain link, not VLAN 100 on ens192"),
    ({"kind": "vlan", "vlan_id": 200, "parent": 2}, "ens192.100 exists but is VLAN 200 on ifindex 2, not VLAN 100"),
    ({"kind": "vlan", "vlan_id": 100, "parent": 3}, "ens192.100 exists but is VLAN 100 on ifindex 3, not VLAN 100 on"),
])
def test_a_link_of_that_name_that_is_not_this_vlan_is_an_error_naming_it(existing, message):
    kernel = KernelModel("ens192", "ens224")
    kernel._new("ens192.100", **existing)
    code, out = add(kernel, conf(interfaces=["ens192"], vlanID=100))
    assert code == 1 and json.loads(out)["code"] == 100
    assert message in json.loads(out)["msg"]


def test_a_missing_master_is_named():
    code, out = add(KernelModel(), conf(interfaces=["ens192"], vlanID=100))
    assert code == 1 and json.loads(out)["msg"] == "ifacer: master interface ens192 does not exist on this node"


def test_a_bond_is_made_with_its_mode_and_options_then_its_interfaces_enslaved_then_the_vlan_on_it():
    kernel = KernelModel("ens192", "ens224")
    code, out = add(kernel, conf(interfaces=["ens192", "ens224"], vlanID=30,
                                 bond={"name": "bond0", "mode": 1, "options": "miimon=100; primary=ens224"}))
    assert code == 0, out
    assert kernel.calls == [
        ("add_bond", "bond0", 1), ("option", "bond0", "miimon", "100"),
        ("down", "ens192"), ("enslave", "ens192", "bond0"), ("up", "ens192"),
        ("down", "ens224"), ("enslave", "ens224", "bond0"), ("up", "ens224"),
        ("option", "bond0", "primary", "ens224"), ("up", "bond0"),
        ("add_vlan", "bond0.30", "bond0", 30), ("up", "bond0.30")]
    kernel.calls.clear()
    assert add(kernel, conf(interfaces=["ens192", "ens224"], vlanID=30, bond={"name": "bond0", "mode": 1}))[0] == 0
    assert kernel.calls == []


def test_a_bond_without_vlan_is_the_master_itself():
    kernel = KernelModel("ens192", "ens224")
    assert add(kernel, conf(interfaces=["ens192", "ens224"], bond={"name": "bond0", "mode": 4}))[0] == 0
    assert "bond0" in kernel.links and not [c for c in kernel.calls if c[0] == "add_vlan"]


def test_an_interface_enslaved_elsewhere_is_not_taken():
    kernel = KernelModel("ens192", "ens224", "team0")
    kernel.links["ens224"].master = kernel.links["team0"].index
    code, out = add(kernel, conf(interfaces=["ens192", "ens224"], bond={"name": "bond0", "mode": 1}))
    assert code == 1 and "ens224 is already enslaved to ifindex 4, not to bond bond0" in json.loads(out)["msg"]


@pytest.mark.parametrize("fields, message", [
    ({"interfaces": []}, "interfaces must be a non-empty list"),
    ({"interfaces": ["ens192"], "vlanID": 4095}, "vlanID 4095 must be an integer in [0, 4094]"),
    ({"interfaces": ["ens192", "ens224"]}, "2 interfaces (ens192, ens224) need a bond to join them"),
    ({"interfaces": ["enp175s0f0np0"], "vlanID": 1000}, "the VLAN interface of enp175s0f0np0 and vlanID 1000 "
                                                         "'enp175s0f0np0.1000' is not a valid interface name"),
    ({"interfaces": ["a", "b"], "bond": {"name": "b0", "mode": 7}}, "bond.mode 7 is not a bonding mode (0-6)"),
    ({"interfaces": ["a", "b"], "bond": {"name": "b0", "mode": 1, "options": "mimon=100"}},
     "bond option 'mimon=100' is not key=value with a bonding option"),
])
def test_a_bad_config_is_refused_naming_the_field(fields, message):
    kernel = KernelModel("ens192")
    code, out = add(kernel, conf(**fields))
    assert code == 1 and json.loads(out)["code"] == 7 and message in json.loads(out)["msg"], out
    assert kernel.calls == []


# -- the other verbs -------------------------------------------------------------------------------------

def test_add_passes_prev_result_through_unchanged_in_the_configs_version():
    previous = {"cniVersion": "0.3.1", "interfaces": [{"name": "eth0"}],
                "ips": [{"version": "4", "address": "10.6.0.5/16", "interface": 0}], "dns": {"nameservers": []}}
    code, out = add(KernelModel("ens192"), {**conf(interfaces=["ens192"]), "cniVersion": "0.3.1",
                                            "prevResult": previous})
    assert code == 0 and json.loads(out) == previous


def test_del_leaves_the_shared_vlan_in_place_and_check_says_when_it_is_gone():
    kernel = KernelModel("ens192")
    add(kernel, conf(interfaces=["ens192"], vlanID=100))
    kernel.calls.clear()
    assert add(kernel, conf(interfaces=["ens192"], vlanID=100), "DEL") == (0, "")
    assert kernel.calls == [] and "ens192.100" in kernel.links
    assert add(kernel, conf(interfaces=["ens192"], vlanID=100), "CHECK") == (0, "")
    del kernel.links["ens192.100"]
    code, out = add(kernel, conf(interfaces=["ens192"], vlanID=100), "CHECK")
    assert code == 1 and "ens192.100, the interface this network's pods sit on, is gone" in json.loads(out)["msg"]


# -- the wire ----------------------------------------------------------------------------------------------

def decoded(body: bytes) -> ifinfmsg:
    msg = ifinfmsg(struct.pack("=LHHLL", 16 + len(body), ifacer.RTM_NEWLINK, 0x605, 1, 0) + body)
    msg.decode()
    return msg


def test_the_vlan_request_is_what_ip_link_add_type_vlan_sends():
    msg = decoded(ifacer.new_vlan("ens192.100", 7, 100))
    info = msg.get_attr("IFLA_LINKINFO")
    assert (msg.get_attr("IFLA_IFNAME"), msg.get_attr("IFLA_LINK")) == ("ens192.100", 7)
    assert info.get_attr("IFLA_INFO_KIND") == "vlan"
    assert info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_VLAN_ID") == 100


def test_the_bond_request_is_what_ip_link_add_type_bond_sends():
    msg = decoded(ifacer.new_bond("bond0", 4))
    info = msg.get_attr("IFLA_LINKINFO")
    assert msg.get_attr("IFLA_IFNAME") == "bond0" and info.get_attr("IFLA_INFO_KIND") == "bond"
    assert info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_BOND_MODE") == 4


def test_a_vlan_link_is_read_back_from_the_kernels_answer():
    answer = ifacer.ifinfomsg(9, ifacer.IFF_UP) + ifacer.new_vlan("ens192.100", 7, 100)[16:] \
        + ifacer.attr(ifacer.IFLA_MASTER, struct.pack("=i", 0))
    link = ifacer.parse_link(answer)
    assert (link.name, link.index, link.up, link.kind, link.vlan_id, link.parent) == (
        "ens192.100", 9, True, "vlan", 100, 7)


def test_the_installed_plugin_imports_only_c_cores():
    source = bundled_source("cni.ifacer")
    assert imported(Path(ifacer.__file__), source=source) <= {"os", "sys", "time", "_json", "_socket", "_struct",
                                                              "json"}
