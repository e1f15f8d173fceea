"""Ownership is enforced at write time (issue 8, item 2): each spec writes as its own field
manager, refused applies are recorded, and objects written before keep working."""

from __future__ import annotations

import json

from reconciler.kube import connect
from reconciler.pipeline import render_path
from reconciler.plan import FIELD_MANAGER, with_digest
from tests.conftest import EXAMPLES

POOLS = "spiderippools.spiderpool.spidernet.io"
SPEC = """\
spec:
  cluster: {ipVersions: [4]}
  ippools:
    - name: p
      subnet: 10.6.0.0/16
      ips: [10.6.0.10-10.6.0.20]
      gateway: 10.6.0.1
"""


def managers(obj):
    return {(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"] if not e.get("subresource")}


def test_each_spec_writes_as_its_own_field_manager(cli, cluster):
    assert cli("apply", EXAMPLES / "cross-zone-pools")[0] == 0
    pool = cluster.get(POOLS, "test-ippool-6")
    assert managers(pool) == {("spiderpool-gitops/cross-zone", "Apply")}


def test_objects_applied_under_the_shared_manager_are_migrated_and_removals_still_work(cli, cluster, write_spec):
    with_routes = write_spec(SPEC.replace("gateway: 10.6.0.1", "gateway: 10.6.0.1\n      routes: "
                                                               "[{dst: 10.9.0.0/16, gw: 10.6.0.1}]"), file="v1.yaml")
    plain = write_spec(SPEC, file="v2.yaml")
    old = connect(kubeconfig=str(cluster.kubeconfig))
    for obj in render_path(with_routes):  # what apply wrote before per-spec managers
        old.apply(with_digest(obj), force=True, manager=FIELD_MANAGER)
    assert managers(cluster.get(POOLS, "p")) == {(FIELD_MANAGER, "Apply")}

    code, out, _ = cli("plan", plain, "-o", "json")
    [change] = [c for c in json.loads(out)["changes"] if c["name"] == "p"]
    assert change["action"] == "update" and any(f["path"].startswith("spec.routes") for f in change["fields"])
    code, out, err = cli("apply", plain)
    assert code == 0, err
    pool = cluster.get(POOLS, "p")
    assert "routes" not in pool["spec"]
    assert managers(pool) == {("spiderpool-gitops/demo", "Apply")}
    code, out, _ = cli("plan", plain, "--detailed-exitcode")
    assert code == 0 and "No changes." in out


def test_a_refused_apply_is_recorded_in_the_network_sync(cli, cluster, write_spec):
    assert cli("apply", write_spec(SPEC, name="first", file="first.yaml"))[0] == 0
    second = write_spec(SPEC.replace("ips: [10.6.0.10-10.6.0.20]", "ips: [10.6.0.30]"), name="second",
                        file="second.yaml")
    code, _, err = cli("apply", second)
    assert code == 1 and "SpiderIPPool p (owned by NetworkSpec 'first')" in err
    sync = cluster.get("networksyncs.gitops.spidernet.io", "second")
    ready = next(c for c in sync["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ApplyFailed")
    assert "SpiderIPPool p (owned by NetworkSpec 'first')" in ready["message"]
    assert sync["status"]["history"][0]["result"] == "Failed"
    code, out, _ = cli("status", "second")
    assert code == 1
    assert cluster.get(POOLS, "p")["spec"]["ips"] == ["10.6.0.10-10.6.0.20"]


def test_a_refusal_after_a_success_replaces_the_success_in_status_but_keeps_the_inventory(cli, cluster, write_spec):
    spec = write_spec(SPEC, name="first")
    assert cli("apply", spec)[0] == 0
    cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                    "metadata": {"name": "q"}, "spec": {"subnet": "10.7.0.0/16", "ips": ["10.7.0.5"]}})
    grown = write_spec(SPEC + "    - {name: q, subnet: 10.7.0.0/16, ips: [10.7.0.5], gateway: 10.7.0.1}\n",
                       name="first")
    assert cli("apply", grown)[0] == 1
    status = cluster.get("networksyncs.gitops.spidernet.io", "first")["status"]
    assert [h["result"] for h in status["history"]] == ["Failed", "Succeeded"]
    assert [i["name"] for i in status["inventory"]] == ["p"]
