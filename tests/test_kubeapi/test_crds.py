"""CustomResourceDefinitions register resources: discovery, CustomObjectsApi, removal."""

from __future__ import annotations

import copy
import json

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from .conftest import IPPOOL_CRD, WIDGET_CRD, widget


def discovery(kubeapi, path: str) -> dict:
    import urllib.request

    return json.load(urllib.request.urlopen(kubeapi.url + path))


def test_creating_a_crd_establishes_it(kube_client):
    ext = client.ApiextensionsV1Api(kube_client)
    ext.create_custom_resource_definition(WIDGET_CRD)
    crd = ext.read_custom_resource_definition("widgets.example.com")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd.status.accepted_names.kind == "Widget"
    assert crd.status.stored_versions == ["v1"]


def test_discovery_lists_crd_resources_with_names_and_status(kubeapi, widgets):
    groups = {g["name"]: g for g in discovery(kubeapi, "/apis")["groups"]}
    assert groups["example.com"]["preferredVersion"] == {"groupVersion": "example.com/v1", "version": "v1"}
    resources = {r["name"]: r for r in discovery(kubeapi, "/apis/example.com/v1")["resources"]}
    assert resources["widgets"] | {"storageVersionHash": None} == {
        "name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
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
    assert "example.com" not in {g["name"] for g in discovery(kubeapi, "/apis")["groups"]}
    kubeapi.create(WIDGET_CRD)
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
    fields = {c["field"] for c in json.loads(caught.value.body)["details"]["causes"]}
    assert fields == {"metadata.name", "spec.versions"}


def test_crds_whose_names_clash_are_not_established(kube_client, widgets):
    clash = copy.deepcopy(WIDGET_CRD)
    clash["metadata"]["name"] = "gadgets.example.com"
    clash["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget", "shortNames": ["wd"]}
    made = client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(clash)
    assert {c.type: c.status for c in made.status.conditions}["Established"] == "False"


def test_every_served_version_is_reachable(kubeapi, custom):
    multi = copy.deepcopy(WIDGET_CRD)
    v1 = multi["spec"]["versions"][0]
    multi["spec"]["versions"] = [{**v1, "name": "v1beta1", "storage": False}, v1]
    kubeapi.create(multi)
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget("w"))
    old = custom.get_namespaced_custom_object("example.com", "v1beta1", "default", "widgets", "w")
    assert old["apiVersion"] == "example.com/v1beta1"
    assert discovery(kubeapi, "/apis/example.com")["preferredVersion"]["version"] == "v1"


def test_upstream_crds_register_except_the_one_kube_apiserver_refuses(kubeapi):
    """As on the real server (tests/cluster/test_control_plane.py): Calico's
    crd.projectcalico.org IPPool copy sets `uniqueItems: true`, which kube-apiserver forbids."""
    import yaml

    from tests.kubeapi.errors import ApiError

    from .conftest import UPSTREAM_CRDS

    for path in sorted(UPSTREAM_CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            if path.name == "crd.projectcalico.org_ippools.yaml":
                with pytest.raises(ApiError, match=r"allowedUses\]\.uniqueItems: Forbidden: uniqueItems cannot"):
                    kubeapi.create(doc)
                continue
            made = kubeapi.create(doc)
            assert {c["type"]: c["status"] for c in made["status"]["conditions"]}["Established"] == "True", path
    assert kubeapi.resource("spiderippools.spiderpool.spidernet.io").short_names == ("sp",)
    assert IPPOOL_CRD.exists()
