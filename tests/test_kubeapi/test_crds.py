"""CustomResourceDefinitions register resources: discovery, CustomObjectsApi, removal."""

from __future__ import annotations

import copy
import json

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.conftest import ensure_crd

from .conftest import IPPOOL_CRD, WIDGET_CRD, api_groups, crd_conditions, eventually, open_url, widget

CRDS = "customresourcedefinitions.apiextensions.k8s.io"


def discovery(kubeapi, path: str) -> dict:
    return json.load(open_url(kubeapi, kubeapi.url + path))


def test_creating_a_crd_establishes_it(kubeapi, kube_client):
    ext = client.ApiextensionsV1Api(kube_client)
    made = ext.create_custom_resource_definition(WIDGET_CRD)
    # the create answer comes before the naming and establishing controllers have run
    assert made.status.conditions is None and made.status.accepted_names.kind == ""
    assert made.status.stored_versions == ["v1"]
    conditions = crd_conditions(kubeapi, "widgets.example.com")
    assert {t: (c["status"], c["reason"], c["message"]) for t, c in conditions.items()} == {
        "NamesAccepted": ("True", "NoConflicts", "no conflicts found"),
        "Established": ("True", "InitialNamesAccepted", "the initial names have been accepted")}
    crd = ext.read_custom_resource_definition("widgets.example.com")
    assert crd.status.accepted_names.kind == "Widget" and crd.status.accepted_names.short_names == ["wd"]
    assert crd.status.stored_versions == ["v1"]
    status_owner = [m for m in crd.metadata.managed_fields if m.subresource == "status"]
    assert [(m.manager, m.operation) for m in status_owner] == [("kube-apiserver", "Update")]


def test_discovery_lists_crd_resources_with_names_and_status(kubeapi, widgets):
    groups = {g["name"]: g for g in discovery(kubeapi, "/apis")["groups"]}
    assert groups["example.com"]["preferredVersion"] == {"groupVersion": "example.com/v1", "version": "v1"}
    resources = {r["name"]: r for r in discovery(kubeapi, "/apis/example.com/v1")["resources"]}
    assert resources["widgets"] | {"storageVersionHash": None} == {
        "name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
        "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
        "shortNames": ["wd"], "categories": ["all"], "storageVersionHash": None}
    assert resources["widgets/status"]["verbs"] == ["get", "patch", "update"]


def test_custom_objects_api_works_once_registered(custom, widgets):
    group, version, plural = widgets
    custom.create_namespaced_custom_object(group, version, "default", plural, widget("w", size=2))
    listed = custom.list_namespaced_custom_object(group, version, "default", plural)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w"]
    assert listed["kind"] == "WidgetList"


def test_custom_resources_404_before_their_crd_exists(custom):
    with pytest.raises(ApiException) as caught:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert caught.value.status == 404


def test_deleting_a_crd_removes_its_resources_and_objects(kubeapi, kube_client, custom, widgets):
    group, version, plural = widgets
    custom.create_namespaced_custom_object(group, version, "default", plural, widget("w"))
    client.ApiextensionsV1Api(kube_client).delete_custom_resource_definition("widgets.example.com")
    # kube-apiserver deletes the objects, then the CRD, then drops it from discovery: wait for that
    eventually(lambda: kubeapi.get(CRDS, "widgets.example.com") is None, what="the CRD to go")
    eventually(lambda: "example.com" not in api_groups(kubeapi), what="example.com to leave discovery")
    ensure_crd(kubeapi, WIDGET_CRD)
    assert custom.list_namespaced_custom_object(group, version, "default", plural)["items"] == []


def test_cluster_scoped_crds_serve_cluster_scoped_objects(custom, ippool_crd):
    group, version, plural = ippool_crd
    pool = {"apiVersion": f"{group}/{version}", "kind": "SpiderIPPool", "metadata": {"name": "p"},
            "spec": {"subnet": "10.6.0.0/16", "ipVersion": 4}}
    made = custom.create_cluster_custom_object(group, version, plural, pool)
    assert "namespace" not in made["metadata"]
    assert made["spec"]["default"] is False  # schema default


def test_invalid_crds_are_rejected(kube_client):
    broken = copy.deepcopy(WIDGET_CRD)
    broken["metadata"]["name"] = "wrong.example.com"
    broken["spec"]["versions"][0]["storage"] = False
    with pytest.raises(ApiException) as caught:
        client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(broken)
    body = json.loads(caught.value.body)
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.name", "spec.versions", "status.storedVersions"]
    versions = ('[{"Name":"v1","Served":true,"Storage":false,"Deprecated":false,"DeprecationWarning":null,'
                '"Schema":null,"Subresources":null,"AdditionalPrinterColumns":null,"SelectableFields":null}]')
    assert body["message"] == (
        'CustomResourceDefinition.apiextensions.k8s.io "wrong.example.com" is invalid: ['
        'metadata.name: Invalid value: "wrong.example.com": must be spec.names.plural+"."+spec.group, '
        f'spec.versions: Invalid value: {versions}: must have exactly one version marked as storage version, '
        'status.storedVersions: Invalid value: null: must have at least one stored version]')


def test_crds_whose_names_clash_are_not_established(kubeapi, kube_client, widgets):
    clash = copy.deepcopy(WIDGET_CRD)
    clash["metadata"]["name"] = "gadgets.example.com"
    clash["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget", "shortNames": ["wd"]}
    client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(clash)
    conditions = crd_conditions(kubeapi, "gadgets.example.com")
    assert {t: (c["status"], c["reason"], c["message"]) for t, c in conditions.items()} == {
        "NamesAccepted": ("False", "ShortNamesConflict", '"wd" is already in use'),
        "Established": ("False", "NotAccepted", "not all names are accepted")}
    accepted = kubeapi.get(CRDS, "gadgets.example.com")["status"]["acceptedNames"]
    assert accepted == {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"}
    assert "gadgets" not in {r["name"] for r in discovery(kubeapi, "/apis/example.com/v1")["resources"]}


def test_every_served_version_is_reachable(kubeapi, custom):
    multi = copy.deepcopy(WIDGET_CRD)
    v1 = multi["spec"]["versions"][0]
    multi["spec"]["versions"] = [{**v1, "name": "v1beta1", "storage": False}, v1]
    ensure_crd(kubeapi, multi)
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget("w"))
    old = custom.get_namespaced_custom_object("example.com", "v1beta1", "default", "widgets", "w")
    assert old["apiVersion"] == "example.com/v1beta1"
    assert discovery(kubeapi, "/apis/example.com")["preferredVersion"]["version"] == "v1"


def test_upstream_crds_register_except_the_one_kube_apiserver_refuses(kubeapi):
    """As on the real server (tests/cluster/test_control_plane.py): Calico's
    crd.projectcalico.org IPPool copy sets `uniqueItems: true`, which kube-apiserver forbids."""
    import yaml

    from tests.cluster.api import APIError
    from tests.kubeapi.errors import ApiError

    from .conftest import UPSTREAM_CRDS

    for path in sorted(UPSTREAM_CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            if path.name == "crd.projectcalico.org_ippools.yaml":
                with pytest.raises((ApiError, APIError), match=(
                        r"is invalid: spec\.validation\.openAPIV3Schema\.properties\[spec\]\.properties\[allowedUses\]"
                        r"\.uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity "
                        r"becomes quadratic$")):
                    kubeapi.create(doc)
                continue
            kubeapi.create(doc)
            conditions = crd_conditions(kubeapi, doc["metadata"]["name"])
            assert conditions["Established"]["status"] == "True", path
    pools = {r["name"]: r for r in eventually(
        lambda: discovery(kubeapi, "/apis/spiderpool.spidernet.io/v2beta1")["resources"] if
        "spiderpool.spidernet.io" in api_groups(kubeapi) else None, what="spiderpool discovery")}
    assert pools["spiderippools"]["shortNames"] == ["sp"]
    assert IPPOOL_CRD.exists()
