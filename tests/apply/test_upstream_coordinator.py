"""A SpiderCoordinator `default` that upstream Spiderpool created (its spiderpool-init hook writes it,
its controller keeps its status) is read as upstream's: plan says so and shows what --adopt would
change; apply leaves it alone without --adopt; with it, only our fields change."""

from __future__ import annotations

import json

import pytest

COORDINATORS = "spidercoordinators.spiderpool.spidernet.io"
SPEC = """\
spec:
  cluster:
    ipVersions: [4]
  coordinator:
    mode: underlay
    podCIDRType: calico
    hijackCIDR: [169.254.0.0/16]
"""


@pytest.fixture
def upstreams_default(cluster):
    """What upstream's spiderpool-init creates, and its controller's status."""
    created = cluster.create({
        "apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderCoordinator",
        "metadata": {"name": "default", "finalizers": ["spiderpool.spidernet.io"]},
        "spec": {"mode": "auto", "podCIDRType": "auto", "hijackCIDR": ["169.254.0.0/16"], "tunePodRoutes": True,
                 "podDefaultRouteNIC": "", "hostRuleTable": 500, "podRPFilter": 0, "txQueueLen": 0,
                 "vethLinkAddress": "", "podMACPrefix": ""}}, manager="spiderpool-init")
    cluster.patch(COORDINATORS, "default", {"status": {"phase": "Synced", "overlayPodCIDR": ["10.233.64.0/18"],
                                                       "serviceCIDR": ["10.233.0.0/18"]}}, subresource="status")
    return created


def test_plan_names_upstreams_coordinator_and_what_adopt_would_change(cli, write_spec, upstreams_default):
    code, out, err = cli("plan", write_spec(SPEC))

    assert code == 1
    assert ("! SpiderCoordinator default CONFLICT: created by upstream Spiderpool (finalizer spiderpool.spidernet.io, "
            "written by spiderpool-init), not by spiderpool-gitops; with --adopt this spec takes it over and writes "
            "the fields below; the others, its status and upstream's finalizer stay as they are") in out
    assert '~ spec.mode: "auto" -> "underlay"' in out and '~ spec.podCIDRType: "auto" -> "calico"' in out
    assert "+ metadata.labels[app.kubernetes.io/managed-by]" in out
    assert "spec.hijackCIDR" not in out  # the same on both sides: not a change
    assert "SpiderCoordinator default" in err


def test_apply_leaves_upstreams_coordinator_alone_and_adopt_changes_only_our_fields(cli, cluster, write_spec,
                                                                                  upstreams_default):
    spec = write_spec(SPEC)
    code, _, err = cli("apply", spec)
    assert code == 1 and "use --adopt" in err
    assert cluster.get(COORDINATORS, "default")["spec"]["mode"] == "auto"

    code, _, err = cli("apply", spec, "--adopt")

    assert code == 0, err
    live = cluster.get(COORDINATORS, "default")
    assert (live["spec"]["mode"], live["spec"]["podCIDRType"]) == ("underlay", "calico")
    assert live["spec"]["hostRuleTable"] == 500  # upstream's value for a field the spec does not set
    assert live["metadata"]["finalizers"] == ["spiderpool.spidernet.io"] and live["status"]["phase"] == "Synced"
    code, out, _ = cli("plan", spec, "-o", "json")
    assert code == 0 and [c["action"] for c in json.loads(out)["changes"]] == ["unchanged"]
