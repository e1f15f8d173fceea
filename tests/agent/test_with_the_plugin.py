"""The installed `spiderpool` plugin executable against a real agent: the runtime's view of the contract."""

from __future__ import annotations

from agent.client import netconf
from tests.cni.conftest import plugin_bin, run_plugin, runtime_env  # noqa: F401  (fixtures)


def pod_args(pod: dict) -> str:
    meta = pod["metadata"]
    return (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={meta['namespace']};K8S_POD_NAME={meta['name']};"
            f"K8S_POD_INFRA_CONTAINER_ID=4f1c0ffee;K8S_POD_UID={meta['uid']}")


def test_the_plugin_prints_the_agents_result_and_exit_codes(objects, agents, kube, run_plugin):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    pod = objects.pod("web", "worker1")
    agent = agents("worker1")
    sock = agent.agent.socket_path

    added = run_plugin(runtime_env("ADD", CNI_IFNAME="eth0", CNI_ARGS=pod_args(pod)), netconf("0.4.0"), socket=sock)
    assert added.returncode == 0, added.stderr
    assert added.json["ips"] == [{"version": "4", "address": "10.6.1.1/16", "gateway": "10.6.0.1"}]

    broken = objects.pod("bad", "worker1", annotations={"ipam.spidernet.io/ippool": "nope"})
    bad = run_plugin(runtime_env("ADD", CNI_IFNAME="eth0", CNI_ARGS=pod_args(broken)), netconf("1.0.0"), socket=sock)
    assert bad.returncode == 1 and bad.error_code == 7
    assert bad.json["msg"].startswith("spiderpool IP allocation error: wrong input")

    objects.delete_pod("web", "default")
    deleted = run_plugin(runtime_env("DEL", CNI_IFNAME="eth0", CNI_ARGS=pod_args(pod)), netconf("0.4.0"), socket=sock)
    assert (deleted.returncode, deleted.stdout) == (0, "")
    assert objects.records("p4") == {}
