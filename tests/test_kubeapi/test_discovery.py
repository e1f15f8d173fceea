"""Discovery, OpenAPI and content negotiation: what clients read before they act."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import configmap, eventually, open_url


def fetch(server, path: str, accept: str = "application/json") -> dict:
    request = urllib.request.Request(server.url + path, headers={"Accept": accept})
    with open_url(server, request) as response:
        return json.load(response)


def test_version_and_core_group(kubeapi):
    assert fetch(kubeapi, "/version")["gitVersion"].startswith("v1.")
    assert fetch(kubeapi, "/api")["versions"] == ["v1"]
    resources = {r["name"]: r for r in fetch(kubeapi, "/api/v1")["resources"]}
    assert resources["pods"]["shortNames"] == ["po"] and resources["pods"]["namespaced"] is True
    assert resources["namespaces"]["namespaced"] is False
    assert resources["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert "configmaps/status" not in resources


def test_named_groups(kubeapi):
    groups = {g["name"] for g in fetch(kubeapi, "/apis")["groups"]}
    assert {"apps", "batch", "coordination.k8s.io", "apiextensions.k8s.io"} <= groups
    assert fetch(kubeapi, "/apis/apps")["preferredVersion"]["groupVersion"] == "apps/v1"
    kinds = {r["kind"] for r in fetch(kubeapi, "/apis/apps/v1")["resources"]}
    assert {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"} <= kinds


def test_openapi_v3_declares_server_side_field_validation(kubeapi, widgets):
    # kube-apiserver publishes a new CRD's document a moment after it is Established
    index = eventually(lambda: (lambda paths: paths if "apis/example.com/v1" in paths else None)(
        fetch(kubeapi, "/openapi/v3")["paths"]), what="the CRD's OpenAPI document")
    assert {"api/v1", "apis/apps/v1", "apis/example.com/v1"} <= set(index)
    doc = fetch(kubeapi, index["apis/example.com/v1"]["serverRelativeURL"])
    collection = "/apis/example.com/v1/namespaces/{namespace}/widgets"
    assert {path: sorted(set(ops) - {"parameters"}) for path, ops in doc["paths"].items()} == {
        collection: ["delete", "get", "post"], collection + "/{name}": ["delete", "get", "patch", "put"],
        collection + "/{name}/status": ["get", "patch", "put"], "/apis/example.com/v1/widgets": ["get"]}
    for path in (collection + "/{name}", collection + "/{name}/status"):
        patch = doc["paths"][path]["patch"]
        assert patch["x-kubernetes-group-version-kind"] == {"group": "example.com", "version": "v1", "kind": "Widget"}
        assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= {p["name"] for p in patch["parameters"]}


@pytest.mark.testserver  # kube-apiserver serves /openapi/v2; the test server leaves it out (README)
def test_openapi_v2_is_not_served(kubeapi):
    with pytest.raises(urllib.error.HTTPError) as caught:
        fetch(kubeapi, "/openapi/v2")
    assert caught.value.code == 404


def test_tables_for_built_ins(kubeapi, core):
    core.create_namespaced_config_map("default", configmap("cm", {"a": "1", "b": "2"}))
    table = fetch(kubeapi, "/api/v1/namespaces/default/configmaps",
                  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["cm", 2]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_partial_object_metadata_lists(kubeapi, core):
    core.create_namespaced_config_map("default", configmap("cm"))
    listed = fetch(kubeapi, "/api/v1/namespaces/default/configmaps",
                   "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
    assert listed["kind"] == "PartialObjectMetadataList"
    assert listed["items"][0]["metadata"]["name"] == "cm" and "data" not in listed["items"][0]


def test_requests_are_counted_by_verb(kubeapi, core):
    kubeapi.stats.reset()
    core.create_namespaced_config_map("default", configmap("cm"))
    core.read_namespaced_config_map("cm", "default")
    core.list_namespaced_config_map("default")
    core.delete_collection_namespaced_config_map("default")
    fetch(kubeapi, "/version")
    assert dict(kubeapi.stats.requests) == {"create": 1, "get": 1, "list": 1, "deletecollection": 1,
                                            "nonresource": 1}
    assert kubeapi.stats.writes == 2 and kubeapi.stats.reads == 2
    assert core.list_namespaced_config_map("default").items == []


def test_unknown_paths_and_resources_are_404(kubeapi):
    for path in ("/nope", "/api/v1/widgets", "/apis/example.com/v1"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            fetch(kubeapi, path)
        assert caught.value.code == 404


def test_a_token_is_required_when_configured(kubeapi_tls):
    import ssl

    context = ssl.create_default_context(cafile=str(kubeapi_tls.kubeconfig) + ".ca.crt")
    request = urllib.request.Request(kubeapi_tls.url + "/api")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, context=context)
    assert caught.value.code == 401
    request.add_header("Authorization", f"Bearer {kubeapi_tls.token}")
    assert json.load(urllib.request.urlopen(request, context=context))["kind"] == "APIVersions"
