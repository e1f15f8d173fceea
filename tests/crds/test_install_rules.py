"""How install-crds decides about an installed CRD (pure): whose it is, and what a merge keeps."""

from __future__ import annotations

import copy

from reconciler.crds import decide, foreign_owner, merged_schema, schema_paths


def crd(versions=("v2beta1",), props=None, labels=None, annotations=None, managers=()):
    schema = {"type": "object", "properties": props or {"spec": {"type": "object", "properties": {
        "ips": {"type": "array", "items": {"type": "string"}}}, "required": ["ips"]}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "x.example.com", "labels": labels or {}, "annotations": annotations or {},
                         "managedFields": [{"manager": m, "operation": "Apply"} for m in managers]},
            "spec": {"versions": [{"name": v, "served": True, "storage": i == 0,
                                   "schema": {"openAPIV3Schema": copy.deepcopy(schema)}}
                                  for i, v in enumerate(versions)]}}


OURS = crd(labels={"app.kubernetes.io/part-of": "spiderpool-gitops"})


def test_the_owner_is_named_from_helm_metadata_or_field_managers():
    assert foreign_owner(OURS) is None
    assert foreign_owner(crd(managers=["spiderpool-gitops"])) is None  # applied by an older version of us
    assert foreign_owner(crd(annotations={"meta.helm.sh/release-name": "sp", "meta.helm.sh/release-namespace": "ns"},
                             managers=["helm"])) == "Helm release ns/sp; fields set by helm"
    assert foreign_owner(crd(managers=["kubectl-create"])) == "fields set by kubectl-create"


def test_a_crd_serving_a_version_ours_does_not_know_is_kept_as_it_is():
    step = decide(OURS, crd(versions=("v2beta1", "v2beta2"), labels=OURS["metadata"]["labels"]), adopt=False)
    assert step.action == "keep" and "v2beta2" in step.note


def test_the_merge_keeps_every_live_field_and_requires_only_what_both_require():
    live = {"type": "object", "properties": {"spec": {"type": "object", "required": ["vlan"], "properties": {
        "vlan": {"type": "integer"}, "ips": {"type": "array", "items": {"type": "object", "properties": {
            "from": {"type": "string"}}}}}}}}
    ours = OURS["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    merged = merged_schema(ours, live)
    assert schema_paths(live) <= schema_paths(merged) and schema_paths(ours) <= schema_paths(merged)
    assert "required" not in merged["properties"]["spec"]  # ours requires ips, theirs vlan: neither is forced
    assert merged["properties"]["spec"]["properties"]["vlan"] == {"type": "integer"}
    assert merged["properties"]["spec"]["properties"]["ips"]["items"] == live["properties"]["spec"]["properties"][
        "ips"]["items"]  # the two disagree on its type: the live one, which stored objects fit, is kept whole
