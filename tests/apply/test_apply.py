"""`spiderpool apply` against the Kubernetes API test server, through the official client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from reconciler.cli import main
from reconciler.pipeline import render_path
from tests.conftest import EXAMPLES, REPO
from tests.k8s_binaries import helm3

RESOURCES = {"SpiderSubnet": "spidersubnets.spiderpool.spidernet.io",
             "SpiderIPPool": "spiderippools.spiderpool.spidernet.io",
             "SpiderReservedIP": "spiderreservedips.spiderpool.spidernet.io",
             "SpiderCoordinator": "spidercoordinators.spiderpool.spidernet.io",
             "NetworkAttachmentDefinition": "network-attachment-definitions.k8s.cni.cncf.io",
             "IPPool": "ippools.projectcalico.org"}


def owned(server, spec_name):
    """(kind, namespace, name) -> object, for every object of ours on the server."""
    found = {}
    for kind, resource in RESOURCES.items():
        try:
            items = server.list(resource)
        except KeyError:
            continue
        for obj in items:
            if (obj["metadata"].get("labels") or {}).get("gitops.spidernet.io/spec") == spec_name:
                found[(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
    return found


def object_writes(server):
    """Writes to anything but NetworkSyncs (a refused apply records itself there)."""
    return [r for r in server.stats.write_log() if "networksyncs" not in r.path]


def identities(objects):
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}


@pytest.mark.parametrize("example", ["calico-bgp-fixed-ip", "calico-overlay-macvlan", "cross-zone-pools"])
def test_apply_creates_exactly_the_rendered_objects_and_a_second_apply_writes_nothing(cli, cluster, example):
    rendered = render_path(EXAMPLES / example)
    name = rendered[0]["metadata"]["labels"]["gitops.spidernet.io/spec"]
    code, out, err = cli("apply", EXAMPLES / example)
    assert code == 0, err
    live = owned(cluster, name)
    assert set(live) == identities(rendered)
    for obj in rendered:
        got = live[(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])]
        assert {k: got["spec"].get(k) for k in obj["spec"]} == obj["spec"]  # the server may add defaults
        assert obj["metadata"]["labels"].items() <= got["metadata"]["labels"].items()
    assert f"Apply complete: {len(rendered)} created." in out

    cluster.stats.reset()
    code, out, _ = cli("apply", EXAMPLES / example)
    assert code == 0 and f"Apply complete: {len(rendered)} unchanged." in out
    assert cluster.stats.writes == 0, [r.path for r in cluster.stats.write_log()]
    code, out, _ = cli("plan", EXAMPLES / example, "--detailed-exitcode")
    assert code == 0 and "No changes." in out


def edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_editing_the_spec_applies_exactly_those_changes(cli, cluster, spec_copy):
    spec = spec_copy("cross-zone-pools")
    assert cli("apply", spec)[0] == 0
    before = owned(cluster, "cross-zone")
    # add a pool, change a gateway, drop the network (the file's last document)
    edit(spec / "spec.yaml", "  reservedIPs:\n", "    - name: extra-8\n      subnet: 10.8.0.0/16\n"
                                                   "      ips: [10.8.0.10-10.8.0.20]\n  reservedIPs:\n")
    edit(spec / "spec.yaml", "ips: [10.6.168.60-10.6.168.69]\n      gateway: 10.6.0.1\n      zones",
         "ips: [10.6.168.60-10.6.168.69]\n      gateway: 10.6.0.254\n      zones")
    text = (spec / "spec.yaml").read_text()
    (spec / "spec.yaml").write_text(text[:text.rindex("---")])
    code, out, _ = cli("plan", spec, "-o", "json")
    changes = {(c["action"], c["kind"], c["name"]) for c in json.loads(out)["changes"] if c["action"] != "unchanged"}
    assert changes == {("create", "SpiderIPPool", "extra-8"), ("update", "SpiderIPPool", "test-ippool-6"),
                       ("delete", "NetworkAttachmentDefinition", "macvlan-conf")}
    [update] = [c for c in json.loads(out)["changes"] if c["action"] == "update"]
    assert {"path": "spec.gateway", "before": "10.6.0.1", "after": "10.6.0.254"} in update["fields"]
    cluster.stats.reset()
    code, out, err = cli("apply", spec)
    assert code == 0, err
    writes = [r for r in cluster.stats.write_log() if "networksyncs" not in r.path]
    object_writes = [r for r in writes if not r.path.endswith("/status")]
    assert len(object_writes) == 3, [r.path for r in object_writes]
    # and the new pool's count columns (`kubectl get sp`), which no allocation has written yet
    assert [r.path for r in writes if r.path.endswith("/status")] == [
        "/apis/spiderpool.spidernet.io/v2beta1/spiderippools/extra-8/status"]
    after = owned(cluster, "cross-zone")
    assert set(after) == set(before) - {("NetworkAttachmentDefinition", "kube-system", "macvlan-conf")} | {
        ("SpiderIPPool", "", "extra-8")}
    assert after[("SpiderIPPool", "", "test-ippool-6")]["spec"]["gateway"] == "10.6.0.254"
    assert after[("SpiderIPPool", "", "test-ippool-7")] == before[("SpiderIPPool", "", "test-ippool-7")]


def allocate(kube_client_api, pool, ips):
    from kubernetes import client

    status = {"allocatedIPs": json.dumps({ip: {"pod": "default/web-0", "podUid": "u1"} for ip in ips}),
              "allocatedIPCount": len(ips)}
    client.CustomObjectsApi(kube_client_api).patch_cluster_custom_object_status(
        "spiderpool.spidernet.io", "v2beta1", "spiderippools", pool, {"status": status})


def test_a_pool_with_allocated_ips_is_drained_never_deleted(cli, cluster, spec_copy):
    from tests.kubeapi.fixtures import api_client_for

    spec = spec_copy("cross-zone-pools")
    assert cli("apply", spec)[0] == 0
    api = api_client_for(cluster)
    allocate(api, "test-ippool-7", ["10.7.168.61"])
    text = (spec / "spec.yaml").read_text()
    start = text.index("    - name: test-ippool-7")
    end = text.index("  reservedIPs:", start) if "  reservedIPs:" in text[start:] else len(text)
    (spec / "spec.yaml").write_text(text[:start] + text[end:])
    edit(spec / "spec.yaml", "ipv4: [test-ippool-6, test-ippool-7]", "ipv4: [test-ippool-6]")
    code, out, err = cli("apply", spec)
    assert code == 0, err
    assert "SpiderIPPool test-ippool-7 draining: 1 IP(s) still allocated" in out
    pool = cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-7")
    assert pool is not None and pool["spec"]["disable"] is True
    # still draining: nothing is written again
    cluster.stats.reset()
    assert cli("apply", spec)[0] == 0
    assert cluster.stats.writes == 0, [(r.verb, r.path) for r in cluster.stats.write_log()]
    # once empty, a later apply deletes it
    allocate(api, "test-ippool-7", [])
    code, out, _ = cli("apply", spec)
    assert code == 0 and "SpiderIPPool test-ippool-7 deleted" in out
    assert cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-7") is None
    api.close()


def test_an_object_we_do_not_own_is_never_touched_unless_adopted(cli, cluster):
    cluster.create({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
                    "metadata": {"name": "test-ippool-6"},
                    "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.168.60"], "gateway": "10.6.0.9"}})
    cluster.stats.reset()
    code, out, err = cli("apply", EXAMPLES / "cross-zone-pools")
    assert code == 1 and object_writes(cluster) == []
    assert "1 object(s) exist that this spec does not own: SpiderIPPool test-ippool-6" in err
    assert cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-6")["spec"]["gateway"] == "10.6.0.9"
    code, out, err = cli("apply", EXAMPLES / "cross-zone-pools", "--adopt")
    assert code == 0, err
    adopted = cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-6")
    assert adopted["spec"]["gateway"] == "10.6.0.1"
    assert adopted["metadata"]["labels"]["gitops.spidernet.io/spec"] == "cross-zone"


def test_an_empty_spec_does_not_prune_everything_without_allow_empty(cli, cluster, write_spec):
    spec = write_spec("spec: {}\n", name="cross-zone")
    assert cli("apply", EXAMPLES / "cross-zone-pools")[0] == 0
    cluster.stats.reset()
    code, _, err = cli("apply", spec)
    assert code == 1 and object_writes(cluster) == []
    assert "applying it would delete all 6 objects it owns; pass --allow-empty" in err
    code, out, err = cli("apply", spec, "--allow-empty")
    assert code == 0, err
    assert owned(cluster, "cross-zone") == {}


def test_an_invalid_spec_applies_nothing(cli, cluster, write_spec):
    spec = write_spec("spec:\n  ippools:\n    - {name: p, subnet: 10.6.0.1/16}\n")
    code, out, err = cli("apply", spec)
    assert code == 1 and out == "" and "is not canonical" in err
    assert cluster.stats.writes == 0 and cluster.stats.reads == 0


def test_dry_run_sends_dry_runs_and_stores_nothing(cli, cluster):
    code, out, err = cli("apply", EXAMPLES / "cross-zone-pools", "--dry-run")
    assert code == 0, err
    assert "Dry run complete, nothing was stored: 6 would be created." in out and "Apply complete" not in out
    assert "  + SpiderSubnet subnet-6 would be created" in out.splitlines()
    assert "every write is a server-side dry run: nothing is stored" in err
    assert cluster.stats.writes == 0
    assert owned(cluster, "cross-zone") == {}


def test_missing_crds_stop_the_apply_before_any_write(kubeapi, capsys):
    code = main(["--kubeconfig", str(kubeapi.kubeconfig), "apply", str(EXAMPLES / "cross-zone-pools")])
    err = capsys.readouterr().err
    assert code == 1 and kubeapi.stats.writes == 0
    assert "the cluster does not serve SpiderSubnet (spiderpool.spidernet.io/v2beta1)" in err
    assert "spiderpool install-crds" in err


def test_a_hand_edit_is_drift_reported_and_reverted_only_with_self_heal(cli, cluster, tmp_path):
    example = EXAMPLES / "cross-zone-pools"
    assert cli("apply", example)[0] == 0
    kubectl = helm3().kubectl
    patch = '{"spec":{"gateway":"10.6.0.254"}}'
    subprocess.run([kubectl, "--kubeconfig", cluster.kubeconfig, "patch", "spiderippool", "test-ippool-6",
                    "--type", "merge", "-p", patch], check=True, capture_output=True)
    code, out, _ = cli("plan", example, "--detailed-exitcode")
    assert code == 2
    assert "~ SpiderIPPool test-ippool-6 has DRIFTED: changed in the cluster, not in the spec" in out
    assert '~ spec.gateway: "10.6.0.254" -> "10.6.0.1"' in out
    code, out, _ = cli("apply", example)
    assert code == 0 and "SpiderIPPool test-ippool-6 drifted: changed in the cluster: spec.gateway" in out
    assert cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-6")["spec"]["gateway"] == "10.6.0.254"
    code, out, _ = cli("status", "cross-zone")
    assert code == 1  # not Ready while drifted
    assert "~ SpiderIPPool test-ippool-6 spec.gateway: live '10.6.0.254', spec '10.6.0.1'" in out
    code, out, _ = cli("apply", example, "--self-heal")
    assert code == 0 and "SpiderIPPool test-ippool-6 updated: drift reverted" in out
    assert cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-6")["spec"]["gateway"] == "10.6.0.1"
    code, out, _ = cli("status")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["cross-zone", "True", "Applied"]


def test_network_sync_records_revision_conditions_inventory_and_history(cli, cluster, spec_copy):
    spec = spec_copy("cross-zone-pools")
    for gateway in ("10.7.0.1", "10.7.0.2", "10.7.0.3", "10.7.0.4", "10.7.0.5", "10.7.0.6"):
        text = (spec / "spec.yaml").read_text()
        (spec / "spec.yaml").write_text(text.replace("gateway: 10.7.0." + text.split("gateway: 10.7.0.")[1][0],
                                                     f"gateway: {gateway}", 1))
        assert cli("apply", spec)[0] == 0
    sync = cluster.get("networksyncs.gitops.spidernet.io", "cross-zone")
    status = sync["status"]
    assert status["revision"].startswith("sha256:")  # a copy outside git: a digest of the rendered objects
    assert status["observedGeneration"] == sync["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Ready": "True", "Reconciling": "False",
                                                                     "Stalled": "False"}
    assert status["inventoryCount"] == 6 and len(status["inventory"]) == 6
    assert len(status["history"]) == 5
    assert [o["action"] for o in status["lastApply"]["objects"]].count("updated") >= 1
    code, out, _ = cli("status", "-o", "json")
    assert json.loads(out)["items"][0]["ready"] == "True"


def test_kubectl_lists_what_apply_created(cli, cluster):
    assert cli("apply", EXAMPLES / "cross-zone-pools")[0] == 0
    out = subprocess.run([helm3().kubectl, "--kubeconfig", cluster.kubeconfig, "get", "sp"], check=True,
                         capture_output=True, text=True).stdout
    assert out.split()[:6] == ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "DEFAULT"]
    assert "test-ippool-6" in out and "test-ippool-7" in out


def _kubectl_rows(cluster, kind: str) -> dict[str, list[str]]:
    out = subprocess.run([helm3().kubectl, "--kubeconfig", cluster.kubeconfig, "get", kind, "--no-headers"],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()}


def test_the_count_columns_are_filled_right_after_apply_and_follow_a_changed_pool(cli, cluster, spec_copy):
    """`kubectl get sp/ss` print status.allocatedIPCount/totalIPCount: never blank, also before any allocation.
    A subnet's ALLOCATED-IP-COUNT is the addresses its pools hold (upstream's SpiderSubnet)."""
    spec = spec_copy("cross-zone-pools")
    assert cli("apply", spec)[0] == 0
    assert _kubectl_rows(cluster, "sp")["test-ippool-6"][:4] == ["4", "10.6.0.0/16", "0", "10"]
    assert _kubectl_rows(cluster, "ss")["subnet-6"] == ["4", "10.6.0.0/16", "10", "10"]

    edit(spec / "spec.yaml", "ips: [10.6.168.60-10.6.168.69]\n      gateway: 10.6.0.1\n      zones",
         "ips: [10.6.168.60-10.6.168.64]\n      gateway: 10.6.0.1\n      zones")
    code, _, err = cli("apply", spec)

    assert code == 0, err
    assert _kubectl_rows(cluster, "sp")["test-ippool-6"][:4] == ["4", "10.6.0.0/16", "0", "5"]
    assert _kubectl_rows(cluster, "ss")["subnet-6"] == ["4", "10.6.0.0/16", "5", "10"]
