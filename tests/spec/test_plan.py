"""Planning: what apply would do to each object, judged field by field and by ownership."""

from __future__ import annotations

import copy
import json

from reconciler.plan import MISSING, FieldChange, make_plan

OURS = {"app.kubernetes.io/managed-by": "spiderpool-gitops", "gitops.spidernet.io/spec": "prod"}


def pool(name, gateway="10.6.0.1", labels=OURS, **extra):
    return {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
            "metadata": {"name": name, "labels": dict(labels),
                         "annotations": {"gitops.spidernet.io/source": "net.yaml:3"}, **extra},
            "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.10-10.6.0.20"], "gateway": gateway}}


def nad(name, mode):
    config = {"cniVersion": "0.3.1", "name": name, "plugins": [{"type": "macvlan"}, {"type": "coordinator", "mode": mode}]}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": "kube-system", "labels": dict(OURS)},
            "spec": {"config": json.dumps(config)}}


def actions(plan):
    return [(c.action, c.name) for c in plan.changes]


def test_against_an_empty_cluster_everything_is_created():
    plan = make_plan([pool("a"), pool("b")], [], spec_name="prod")
    assert actions(plan) == [("create", "a"), ("create", "b")]
    assert FieldChange("spec.gateway", MISSING, "10.6.0.1") in plan.changes[0].fields
    assert plan.has_changes and plan.count("create") == 2


def test_identical_objects_are_unchanged_and_controller_additions_are_ignored():
    live = pool("a", finalizers=["spiderpool.spidernet.io"], resourceVersion="7")
    live["metadata"]["labels"]["ipam.spidernet.io/ippool-cidr"] = "10-6-0-0-16"
    live["status"] = {"allocatedIPCount": 3}
    plan = make_plan([pool("a")], [live], spec_name="prod")
    assert actions(plan) == [("unchanged", "a")] and not plan.has_changes


def test_a_changed_field_is_named_with_before_and_after():
    plan = make_plan([pool("a", gateway="10.6.0.254")], [pool("a")], spec_name="prod")
    [change] = plan.changes
    assert change.action == "update"
    assert change.fields == (FieldChange("spec.gateway", "10.6.0.1", "10.6.0.254"),)


def managed(obj, *fields):
    obj["metadata"]["managedFields"] = [
        {"manager": "spiderpool-gitops", "operation": "Apply", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {f"f:{f}": {} for f in fields}}},
        {"manager": "kube-apiserver", "operation": "Update", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:assignmentMode": {}}}}]
    return obj


def test_a_field_we_own_that_left_the_spec_is_a_removal():
    desired = pool("a")
    del desired["spec"]["gateway"]
    live = managed(pool("a"), "subnet", "ips", "gateway")
    [change] = make_plan([desired], [live], spec_name="prod").changes
    assert change.fields == (FieldChange("spec.gateway", "10.6.0.1", MISSING),)


def test_fields_the_server_or_others_added_are_not_removals():
    live = managed(pool("a"), "subnet", "ips", "gateway")
    live["spec"]["assignmentMode"] = "Automatic"  # a CRD default
    assert actions(make_plan([pool("a")], [live], spec_name="prod")) == [("unchanged", "a")]
    # without managedFields (a plain `kubectl get -o yaml`), only what the spec sets is compared
    bare = pool("a")
    bare["spec"]["assignmentMode"] = "Automatic"
    assert actions(make_plan([pool("a")], [bare], spec_name="prod")) == [("unchanged", "a")]


def test_attachment_configs_are_compared_as_json():
    [change] = make_plan([nad("n", "underlay")], [nad("n", "overlay")], spec_name="prod").changes
    assert change.fields == (FieldChange("spec.config.plugins[1].mode", "overlay", "underlay"),)


def test_owned_objects_that_left_the_spec_are_deleted_only_when_pruning():
    live = [pool("a"), pool("gone")]
    assert actions(make_plan([pool("a")], live, spec_name="prod")) == [("unchanged", "a"), ("delete", "gone")]
    kept = make_plan([pool("a")], live, spec_name="prod", prune=False)
    assert actions(kept) == [("unchanged", "a"), ("orphan", "gone")] and not kept.has_changes


def test_objects_we_do_not_own_are_conflicts_and_never_deleted():
    strangers = [pool("a", labels={}), pool("b", labels={**OURS, "gitops.spidernet.io/spec": "other"}),
                 pool("c", labels={})]
    plan = make_plan([pool("a"), pool("b")], strangers, spec_name="prod")
    assert actions(plan) == [("conflict", "a"), ("conflict", "b")]
    assert "not managed by spiderpool-gitops" in plan.changes[0].reason
    assert "owned by NetworkSpec 'other'" in plan.changes[1].reason


def test_the_same_name_in_another_namespace_or_group_is_another_object():
    other_ns = nad("n", "overlay")
    other_ns["metadata"]["namespace"] = "team-a"
    calico = {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "s", "labels": dict(OURS)},
              "spec": {"cidr": "10.6.0.0/16"}}
    desired_calico = copy.deepcopy(calico)
    desired_calico["apiVersion"] = "projectcalico.org/v3"
    plan = make_plan([nad("n", "overlay"), desired_calico], [other_ns, calico], spec_name="prod")
    assert sorted(actions(plan)) == [("create", "n"), ("create", "s"), ("delete", "n"), ("delete", "s")]
