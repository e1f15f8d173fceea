"""The `ifacer` CNI plugin: the VLAN sub-interface (and the bond) a network's main plugin sits on.

Why it exists: a network with `vlanID` (or with several masters bonded) puts its pods on
`<master>.<vlanID>` (or `<bond>[.<vlanID>]`), which nobody has made on the node. As upstream
Spiderpool does, the rendered NetworkAttachmentDefinition chains this plugin *before* the main
plugin (`{"type": "ifacer", "interfaces": [masters], "vlanID": N, "bond": {name, mode, options}}`);
on ADD it makes what is missing, idempotently, on the node (the namespace the runtime runs
plugins in):

- a bond (several interfaces): created with its `mode` (0-6), its `options` ("k=v;k=v", the
  kernel's bonding sysfs names: miimon, lacp_rate, xmit_hash_policy, primary, ...) written
  before the interfaces are enslaved (primary and active_slave after), then set up;
- the VLAN sub-interface `<parent>.<vlanID>` on the bond or the one interface, then set up.

What exists already is checked, not trusted: a link of that name that is not the VLAN of that
parent and ID (or not a bond) is an error naming it. Two pods starting at once may both create:
the loser's EEXIST is read back and checked like any existing link. ADD prints prevResult
unchanged (an empty result when it is the first plugin); CHECK fails when the interface the
chain needs is gone; DEL, GC and STATUS change nothing: the sub-interface and the bond are
shared by every pod of every network on that VLAN of the node, and deleting one would take
their macvlan/ipvlan children (the pods' interfaces) with it. Like upstream's, the links are not
persistent: after a node reboot the next pod's ADD makes them again.

Written standalone by `spiderpool install-cni` (with `cni/pluginwire.py` inlined in place of
its marked import): standard library C cores only, netlink spoken on a raw `_socket`.
"""

import os
import sys

from cni.pluginwire import (INVALID_CONFIG, PLUGIN_ERROR, CniError, check_env, check_version, decode_config, quote,
                            run_commands, run_main, version_json)  # install-cni: inline

IFNAMSIZ = 15  # the kernel's limit on an interface name (16 bytes with the NUL)
DEFAULT_BOND = "sp_bond0"  # upstream's name when the bond has none
BOND_MODES = range(7)  # balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb
BOND_OPTIONS = ("active_slave", "ad_actor_sys_prio", "ad_actor_system", "ad_select", "ad_user_port_key",
                "all_slaves_active", "arp_all_targets", "arp_interval", "arp_ip_target", "arp_validate",
                "downdelay", "fail_over_mac", "lacp_rate", "lp_interval", "miimon", "min_links", "num_grat_arp",
                "num_unsol_na", "packets_per_slave", "peer_notif_delay", "primary", "primary_reselect",
                "resend_igmp", "tlb_dynamic_lb", "updelay", "use_carrier", "xmit_hash_policy")
AFTER_SLAVES = ("primary", "active_slave")  # these name an enslaved interface

# netlink (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h)
AF_NETLINK, SOCK_RAW, NETLINK_ROUTE = 16, 3, 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x2, 0x4, 0x200, 0x400
NLA_F_NESTED, NLA_TYPE_MASK = 0x8000, 0x3FFF
IFLA_IFNAME, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO = 3, 5, 10, 18
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_VLAN_ID, IFLA_BOND_MODE = 1, 1
IFF_UP = 0x1
EEXIST, ENODEV, EOPNOTSUPP = 17, 19, 95


# ---------------------------------------------------------------------------------------- the config

class Spec:
    """What one ADD must make: `parent` (the bond or the one interface), then `vlan` on it."""

    def __init__(self, interfaces, vlan_id, bond):
        self.interfaces, self.vlan_id, self.bond = interfaces, vlan_id, bond  # bond: (name, mode, options) or None
        self.parent = bond[0] if bond else interfaces[0]
        self.vlan = "%s.%d" % (self.parent, vlan_id) if vlan_id else ""

    @property
    def needed(self):
        """The interface the main plugin sits on."""
        return self.vlan or self.parent


def parse(config):
    """The plugin's config -> Spec; CniError 7 naming the bad field."""
    interfaces = config.get("interfaces")
    if not isinstance(interfaces, list) or not interfaces or not all(isinstance(i, str) and i for i in interfaces):
        raise CniError(INVALID_CONFIG, "ifacer: interfaces must be a non-empty list of interface names")
    for name in interfaces:
        check_ifname(name, "interfaces")
    if len(set(interfaces)) != len(interfaces):
        raise CniError(INVALID_CONFIG, "ifacer: interfaces %s lists one interface twice" % ", ".join(interfaces))
    vlan_id = config.get("vlanID", 0)
    if isinstance(vlan_id, bool) or not isinstance(vlan_id, int) or not 0 <= vlan_id <= 4094:
        raise CniError(INVALID_CONFIG, "ifacer: vlanID %r must be an integer in [0, 4094] (0: no VLAN)" % (vlan_id,))
    bond = config.get("bond")
    if bond is not None:
        bond = parse_bond(bond, interfaces)
    elif len(interfaces) > 1:
        raise CniError(INVALID_CONFIG, "ifacer: %d interfaces (%s) need a bond to join them"
                       % (len(interfaces), ", ".join(interfaces)))
    spec = Spec(interfaces, vlan_id, bond)
    if spec.vlan:
        check_ifname(spec.vlan, "the VLAN interface of %s and vlanID %d" % (spec.parent, vlan_id))
    return spec


def parse_bond(bond, interfaces):
    if not isinstance(bond, dict):
        raise CniError(INVALID_CONFIG, "ifacer: bond must be an object {name, mode, options}")
    name = bond.get("name") or DEFAULT_BOND
    check_ifname(name, "bond.name")
    if name in interfaces:
        raise CniError(INVALID_CONFIG, "ifacer: bond %s is also one of its own interfaces" % name)
    mode = bond.get("mode", 0)
    if isinstance(mode, bool) or mode not in BOND_MODES:
        raise CniError(INVALID_CONFIG, "ifacer: bond.mode %r is not a bonding mode (0-6)" % (mode,))
    return name, mode, bond_options(bond.get("options") or "")


def bond_options(text):
    """"k1=v1;k2=v2" -> [(k, v)]: the bonding driver's sysfs names; CniError 7 for anything else."""
    if not isinstance(text, str):
        raise CniError(INVALID_CONFIG, "ifacer: bond.options must be a string like \"miimon=100;lacp_rate=1\"")
    options = []
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value or key not in BOND_OPTIONS:
            raise CniError(INVALID_CONFIG, "ifacer: bond option %r is not key=value with a bonding option" % item,
                           "options: " + ", ".join(BOND_OPTIONS))
        options.append((key, value))
    return options


def check_ifname(name, what):
    if len(name) > IFNAMSIZ or "/" in name or ":" in name or name in (".", "..") or any(c.isspace() for c in name):
        raise CniError(INVALID_CONFIG, "ifacer: %s %r is not a valid interface name (at most %d characters, "
                                       "no '/', ':' or spaces)" % (what, name, IFNAMSIZ))


# ---------------------------------------------------------------------------------------- the work

def ensure(spec, kernel):
    """Make (or check) the bond and the VLAN interface `spec` asks for; `kernel` is a Netlink."""
    if spec.bond:
        parent = ensure_bond(spec, kernel)
    else:
        parent = kernel.link(spec.parent)
        if parent is None:
            raise CniError(PLUGIN_ERROR, "ifacer: master interface %s does not exist on this node" % spec.parent)
        if not parent.up:
            kernel.set_up(parent.index, True)
    if spec.vlan:
        ensure_vlan(spec, kernel, parent)


def ensure_vlan(spec, kernel, parent):
    """`spec.vlan` on `parent` (the link of `spec.parent`, as `ensure` read or made it)."""
    vlan = kernel.link(spec.vlan)
    if vlan is None:
        try:
            kernel.add_vlan(spec.vlan, parent.index, spec.vlan_id)
        except OSError as exc:
            if exc.errno != EEXIST:  # else another pod's ADD made it meanwhile: check it below
                raise CniError(PLUGIN_ERROR, "ifacer: cannot create VLAN interface %s on %s: %s"
                               % (spec.vlan, spec.parent, explain(exc, "802.1Q VLAN (8021q)")))
        vlan = kernel.link(spec.vlan)
    if vlan is None or vlan.kind != "vlan" or vlan.vlan_id != spec.vlan_id or vlan.parent != parent.index:
        what = "gone" if vlan is None else "a %s link" % (vlan.kind or "plain") if vlan.kind != "vlan" else \
            "VLAN %s on ifindex %s" % (vlan.vlan_id, vlan.parent)
        raise CniError(PLUGIN_ERROR, "ifacer: %s exists but is %s, not VLAN %d on %s (ifindex %d); remove or "
                                     "rename it" % (spec.vlan, what, spec.vlan_id, spec.parent, parent.index))
    if not vlan.up:
        kernel.set_up(vlan.index, True)


def ensure_bond(spec, kernel):
    """-> the bond's link."""
    name, mode, options = spec.bond
    slaves = []
    for ifname in spec.interfaces:
        link = kernel.link(ifname)
        if link is None:
            raise CniError(PLUGIN_ERROR, "ifacer: interface %s of bond %s does not exist on this node" % (ifname, name))
        slaves.append(link)
    bond = kernel.link(name)
    if bond is None:
        try:
            kernel.add_bond(name, mode)
            bond = kernel.link(name)
            for key, value in options:
                if key not in AFTER_SLAVES:
                    kernel.bond_option(name, key, value)
        except OSError as exc:
            if exc.errno != EEXIST:
                raise CniError(PLUGIN_ERROR, "ifacer: cannot create bond %s (mode %d): %s"
                               % (name, mode, explain(exc, "bonding")))
            bond = kernel.link(name)
    if bond is None or bond.kind != "bond":
        raise CniError(PLUGIN_ERROR, "ifacer: %s exists but is %s, not a bond; remove or rename it"
                       % (name, "gone" if bond is None else "a %s link" % (bond.kind or "plain")))
    enslaved = False
    for link in slaves:
        if link.master == bond.index:
            continue
        if link.master:
            raise CniError(PLUGIN_ERROR, "ifacer: %s is already enslaved to ifindex %d, not to bond %s"
                           % (link.name, link.master, name))
        try:
            if link.up:
                kernel.set_up(link.index, False)  # the kernel enslaves only interfaces that are down
            kernel.enslave(link.index, bond.index)
            kernel.set_up(link.index, True)
        except OSError as exc:
            raise CniError(PLUGIN_ERROR, "ifacer: cannot enslave %s to bond %s: %s" % (link.name, name, explain(exc)))
        enslaved = True
    if enslaved:
        for key, value in options:
            if key in AFTER_SLAVES:
                kernel.bond_option(name, key, value)
    if not bond.up:
        kernel.set_up(bond.index, True)
    return bond


def explain(exc, feature=""):
    if feature and exc.errno == EOPNOTSUPP:
        return "the kernel has no %s support (%s)" % (feature, os.strerror(exc.errno))
    return exc.strerror or str(exc)


# ---------------------------------------------------------------------------------------- netlink

class Link:
    __slots__ = ("name", "index", "up", "kind", "vlan_id", "parent", "master")

    def __init__(self, name, index, up, kind="", vlan_id=None, parent=0, master=0):
        self.name, self.index, self.up, self.kind = name, index, up, kind
        self.vlan_id, self.parent, self.master = vlan_id, parent, master


def attr(kind, value):
    from _struct import pack
    length = 4 + len(value)
    return pack("=HH", length, kind) + value + b"\0" * (-length % 4)


def attrs(data, offset=0):
    """The netlink attributes in `data[offset:]` -> {type: payload}."""
    from _struct import unpack_from
    found = {}
    while offset + 4 <= len(data):
        length, kind = unpack_from("=HH", data, offset)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


def ifinfomsg(index=0, flags=0, change=0):
    from _struct import pack
    return pack("=BxHiII", 0, 0, index, flags, change)  # AF_UNSPEC


def parse_link(payload):
    from _struct import unpack_from
    _, _, index, flags, _ = unpack_from("=BxHiII", payload)
    found = attrs(payload, 16)
    info = attrs(found.get(IFLA_LINKINFO, b""))
    kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode("utf-8", "replace")
    vlan_id = None
    if kind == "vlan":
        data = attrs(info.get(IFLA_INFO_DATA, b""))
        if IFLA_VLAN_ID in data:
            vlan_id = unpack_from("=H", data[IFLA_VLAN_ID])[0]
    parent = unpack_from("=i", found[IFLA_LINK])[0] if len(found.get(IFLA_LINK, b"")) >= 4 else 0
    master = unpack_from("=i", found[IFLA_MASTER])[0] if len(found.get(IFLA_MASTER, b"")) >= 4 else 0
    name = found.get(IFLA_IFNAME, b"").rstrip(b"\0").decode("utf-8", "replace")
    return Link(name, index, bool(flags & IFF_UP), kind, vlan_id, parent, master)


def new_vlan(name, parent, vlan_id):
    """The RTM_NEWLINK body of `ip link add link <parent> name <name> type vlan id <vlan_id>`."""
    from _struct import pack
    data = attr(IFLA_VLAN_ID, pack("=H", vlan_id))
    info = attr(IFLA_INFO_KIND, b"vlan") + attr(IFLA_INFO_DATA | NLA_F_NESTED, data)
    return (ifinfomsg() + attr(IFLA_IFNAME, name.encode() + b"\0") + attr(IFLA_LINK, pack("=i", parent))
            + attr(IFLA_LINKINFO | NLA_F_NESTED, info))


def new_bond(name, mode):
    """The RTM_NEWLINK body of `ip link add <name> type bond mode <mode>`."""
    from _struct import pack
    info = attr(IFLA_INFO_KIND, b"bond") + attr(IFLA_INFO_DATA | NLA_F_NESTED, attr(IFLA_BOND_MODE, pack("=B", mode)))
    return ifinfomsg() + attr(IFLA_IFNAME, name.encode() + b"\0") + attr(IFLA_LINKINFO | NLA_F_NESTED, info)


class Netlink:
    """rtnetlink on a raw socket of the calling process's network namespace (the node's)."""

    def __init__(self):
        import _socket
        self.sock = _socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def request(self, msg_type, flags, body):
        """Send one request -> the payloads of its answer; OSError(errno) when the kernel refuses it."""
        from _struct import pack, unpack_from
        self.seq += 1
        self.sock.send(pack("=LHHLL", 16 + len(body), msg_type, flags | NLM_F_REQUEST, self.seq, 0) + body)
        answers = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, got_flags, seq, _ = unpack_from("=LHHLL", data, offset)
                payload = data[offset + 16:offset + length]
                offset += max((length + 3) & ~3, 16)
                if seq != self.seq:
                    continue
                if kind == NLMSG_ERROR:
                    error = unpack_from("=i", payload)[0]
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return answers  # the ACK
                if kind == NLMSG_DONE:
                    return answers
                answers.append(payload)
                if not got_flags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return answers

    def link(self, name):
        """The link called `name`, or None."""
        try:
            found = self.request(RTM_GETLINK, 0, ifinfomsg() + attr(IFLA_IFNAME, name.encode() + b"\0"))
        except OSError as exc:
            if exc.errno == ENODEV:
                return None
            raise CniError(PLUGIN_ERROR, "ifacer: cannot read link %s: %s" % (name, explain(exc)))
        return parse_link(found[0]) if found else None

    def set_up(self, index, up):
        self.request(RTM_NEWLINK, NLM_F_ACK, ifinfomsg(index, IFF_UP if up else 0, IFF_UP))

    def add_vlan(self, name, parent, vlan_id):
        self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, new_vlan(name, parent, vlan_id))

    def add_bond(self, name, mode):
        self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, new_bond(name, mode))

    def enslave(self, index, master):
        from _struct import pack
        self.request(RTM_NEWLINK, NLM_F_ACK, ifinfomsg(index) + attr(IFLA_MASTER, pack("=i", master)))

    def bond_option(self, bond, key, value):
        """The bonding driver takes its options through sysfs (/sys/class/net/<bond>/bonding/<key>)."""
        path = "/sys/class/net/%s/bonding/%s" % (bond, key)
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise CniError(PLUGIN_ERROR, "ifacer: bond %s option %s=%s: %s" % (bond, key, value, explain(exc)))


# ---------------------------------------------------------------------------------------- the commands

def to_json(value):
    """A decoded JSON value back to text (the C codec has no encoder we can reach cheaply)."""
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (quote(str(k)), to_json(v)) for k, v in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(to_json(v) for v in value)
    if isinstance(value, str):
        return quote(value)
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


def result_json(config, version):
    """prevResult unchanged, in the config's version; an empty result when ifacer comes first."""
    previous = config.get("prevResult")
    previous = dict(previous) if isinstance(previous, dict) else {"dns": {}}
    previous["cniVersion"] = version
    return to_json(previous) + "\n"


def cmd_version(environ, stdin, netlink):
    return 0, version_json(stdin)


def cmd_add(environ, stdin, netlink):
    check_env(environ, "ADD")
    config = decode_config(stdin)[1]
    version = check_version(config, "ADD")
    spec = parse(config)
    kernel = netlink()
    try:
        ensure(spec, kernel)
    except OSError as exc:
        raise CniError(PLUGIN_ERROR, "ifacer: %s" % explain(exc))
    finally:
        kernel.close()
    return 0, result_json(config, version)


def cmd_check(environ, stdin, netlink):
    check_env(environ, "CHECK")
    config = decode_config(stdin)[1]
    check_version(config, "CHECK")
    spec = parse(config)
    kernel = netlink()
    try:
        link = kernel.link(spec.needed)
    finally:
        kernel.close()
    if link is None or not link.up:
        raise CniError(PLUGIN_ERROR, "ifacer: %s, the interface this network's pods sit on, is %s"
                       % (spec.needed, "gone" if link is None else "down"))
    return 0, ""


def cmd_leave(environ, stdin, netlink):
    """DEL, GC, STATUS: the interfaces are shared by every pod on them: nothing to undo or collect."""
    command = environ["CNI_COMMAND"]
    check_env(environ, command)
    config = decode_config(stdin)[1]
    check_version(config, command)
    return 0, ""


COMMANDS = {"VERSION": cmd_version, "ADD": cmd_add, "CHECK": cmd_check, "DEL": cmd_leave, "GC": cmd_leave,
            "STATUS": cmd_leave}


def log_error(line):
    sys.stderr.write("ifacer: %s\n" % line)


def run(environ, stdin, netlink=Netlink):
    """-> (exit code, stdout text). `netlink` makes the kernel connection (tests hand in another)."""
    return run_commands("ifacer", COMMANDS, environ, stdin, log_error, netlink)


def main():
    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
