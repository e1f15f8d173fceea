"""The spec and the auto pools on one cluster: plan/apply never show or prune auto pools, and refuse to pull
their subnet from under them (pruned, or shrunk below the IPs it handed out)."""

from __future__ import annotations

import contextlib
import io
import json

from tests.conftest import eventually

from .conftest import annotated, auto_pools, controlled, deployment, pool_ips

SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: nginx
spec:
  cluster:
    ipVersions: [4]
  subnets:{subnets}
  ippools:
    - name: manual
      subnet: 10.244.0.0/16
      ips: [10.244.100.0-10.244.100.9]
"""
SUBNET = """
    - name: nginx-subnet-v4
      subnet: 10.244.0.0/16
      ips: [{ips}]
      gateway: 10.244.0.1"""


def spiderpool(cluster, *args: str) -> tuple[int, str, str]:
    from reconciler.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--kubeconfig", str(cluster.kubeconfig)])
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, subnets: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(subnets=subnets))
    return str(path)


def test_plan_and_apply_leave_auto_pools_alone_and_refuse_to_pull_their_subnet(cluster, kube, controller, tmp_path):
    full = write(tmp_path, SUBNET.format(ips="10.244.100.0-10.244.200.1"))
    assert spiderpool(cluster, "apply", full)[0] == 0
    controller()
    cluster.create(deployment("nginx", 2, annotated(number="+3")))
    pool = eventually(lambda: [p for p in auto_pools(kube, "nginx") if len(pool_ips(p)) == 5], what="the pool")[0]
    name = pool["metadata"]["name"]
    eventually(lambda: name in controlled(kube), what="the ledger")

    code, out, _ = spiderpool(cluster, "ipam", "subnets")               # allocated/total and the pools controlled
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "POOLS"]
    assert out.splitlines()[1].split()[:5] == ["nginx-subnet-v4", "4", "10.244.0.0/16", "15", "25602"]
    assert f"{name} (5), manual (10)" in out
    code, out, _ = spiderpool(cluster, "ipam", "subnets", "-o", "json")
    row = json.loads(out)["items"][0]
    assert (row["allocatedIPCount"], row["totalIPCount"]) == (15, 25602)
    assert row["controlledIPPools"][name] == {"ips": ["10.244.100.10-10.244.100.14"],
                                              "application": "apps_v1_Deployment_default_nginx"}

    code, out, _ = spiderpool(cluster, "plan", full, "-o", "json")       # not shown, not pruned
    assert code == 0 and name not in out
    assert json.loads(out)["summary"]["destroy"] == 0
    assert spiderpool(cluster, "apply", full)[0] == 0 and auto_pools(kube, "nginx")

    overlapping = str(tmp_path / "overlap.yaml")                       # a new spec pool on the auto pool's IPs
    (tmp_path / "overlap.yaml").write_text(open(full).read() + "    - name: grabby\n      subnet: 10.244.0.0/16\n"
                                                              "      ips: [10.244.100.12-10.244.100.20]\n")
    code, out, err = spiderpool(cluster, "plan", overlapping)
    assert code == 1 and f"SpiderIPPool grabby REFUSED: its IPs overlap auto pool(s) of applications: {name} " \
                         "(10.244.100.12-10.244.100.14)" in out, out + err
    code, out, err = spiderpool(cluster, "apply", overlapping)
    assert code == 1 and cluster.get("spiderippools.spiderpool.spidernet.io", "grabby") is None

    shrunk = write(tmp_path, SUBNET.format(ips="10.244.100.0-10.244.100.12"))
    code, out, err = spiderpool(cluster, "plan", shrunk)
    assert code == 1 and "REFUSED" in out
    assert f"the new ips/excludeIPs leave out IPs the subnet has handed to pools: {name}" in out + err

    gone = str(tmp_path / "empty.yaml")                                # the subnet and the manual pool left the spec
    (tmp_path / "empty.yaml").write_text(SPEC.split("  subnets:")[0])
    code, out, err = spiderpool(cluster, "plan", gone)
    assert code == 1, out + err
    assert f"it still controls 1 auto pool(s): {name} (of apps_v1_Deployment_default_nginx)" in out
    code, out, err = spiderpool(cluster, "apply", gone, "--allow-empty")
    assert code == 1 and "nothing was applied" in out + err
    assert cluster.get("spidersubnets.spiderpool.spidernet.io", "nginx-subnet-v4") is not None
    assert cluster.get("spiderippools.spiderpool.spidernet.io", "manual") is not None

    cluster.delete("deployments.apps", "nginx", "default")            # the app goes, its pool with it
    eventually(lambda: not auto_pools(kube) and name not in controlled(kube), what="the pool and its entry gone")
    code, out, err = spiderpool(cluster, "apply", gone, "--allow-empty")
    assert code == 0, out + err
    eventually(lambda: cluster.get("spidersubnets.spiderpool.spidernet.io", "nginx-subnet-v4") is None,
               what="the subnet pruned")
