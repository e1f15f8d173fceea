"""Shared fixtures for the test API server's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.cluster.api import RealCluster
from tests.cluster.fixtures import wiped
from tests.conftest import ensure_crd, eventually  # noqa: F401  (eventually: for the tests here)
from tests.kubeapi.fixtures import api_client_for, kubeapi_tls, serving  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_CRDS = REPO_ROOT.parent / "shared" / "upstream" / "crds"  # CI runs with ../shared beside the clone
IPPOOL_CRD = UPSTREAM_CRDS / "spiderpool.spidernet.io_spiderippools.yaml"
SP_GROUP, SP_VERSION, SP_PLURAL = "spiderpool.spidernet.io", "v2beta1", "spiderippools"

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"],
                  "categories": ["all"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "minimum": 1, "maximum": 10},
                            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
                            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3,
                                     "x-kubernetes-list-type": "set"},
                            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                                      "x-kubernetes-list-map-keys": ["name"],
                                      "items": {"type": "object", "required": ["name"],
                                                "properties": {"name": {"type": "string"},
                                                               "port": {"type": "integer"}}}},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "cidr": {"type": "string", "format": "cidr"},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "nested": {"type": "object", "properties": {
                                "enabled": {"type": "boolean", "default": True}}},
                        },
                    },
                    "status": {"type": "object", "properties": {
                        "ready": {"type": "boolean"},
                        "count": {"type": "integer", "minimum": 0}}},
                },
            }},
        }],
    },
}


@pytest.fixture(params=["test-server", "real"])
def kubeapi(request, tmp_path):
    """Each test of the test server runs on it and once more on the real kube-apiserver, so
    every behaviour it claims is shown on the real thing; tests marked `testserver` use what only
    the test server has (faults, compaction, its request stats or internals)."""
    if request.param == "real":
        if request.node.get_closest_marker("testserver"):
            pytest.skip("uses what only the test server has")
        # the test server also plays the namespace and garbage collectors: compare with both
        with wiped(request.getfixturevalue("real_control_plane_with_controllers"), crds=True) as cluster:
            yield cluster
        return
    with serving(tmp_path / "kubeconfig") as server:
        yield server


@pytest.fixture
def kube_client(kubeapi):
    api = api_client_for(kubeapi)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(kube_client):
    return client.CoreV1Api(kube_client)


@pytest.fixture
def apps(kube_client):
    return client.AppsV1Api(kube_client)


@pytest.fixture
def custom(kube_client):
    return client.CustomObjectsApi(kube_client)


@pytest.fixture
def widgets(kubeapi):
    """The Widget CRD registered; returns its (group, version, plural)."""
    ensure_crd(kubeapi, WIDGET_CRD)
    return "example.com", "v1", "widgets"


@pytest.fixture
def ippool_crd(kubeapi):
    ensure_crd(kubeapi, yaml.safe_load(IPPOOL_CRD.read_text()))
    return SP_GROUP, SP_VERSION, SP_PLURAL


def widget(object_name: str, **spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": object_name},
            "spec": spec or {"size": 1}}


def configmap(name: str, data: dict | None = None, **metadata) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata},
            "data": data or {"a": "1"}}


def open_url(server, request, timeout: float = 30):
    """urllib's urlopen against `server`; on the real one with its CA and the kubeconfig user's
    client certificate (the identity the tests' API clients have)."""
    import urllib.request

    context = server.client_ssl_context() if isinstance(server, RealCluster) else None
    return urllib.request.urlopen(request, timeout=timeout, context=context)


def crd_conditions(kubeapi, name: str) -> dict[str, dict]:
    """The CRD's conditions by type once kube-apiserver's controllers have settled them (the
    Established condition there, and not "Installing")."""
    def read():
        crd = kubeapi.get("customresourcedefinitions.apiextensions.k8s.io", name) or {}
        found = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}
        settled = "Established" in found and found["Established"].get("reason") != "Installing"
        return found if settled else None
    return eventually(read, what=f"conditions on CRD {name}")


def api_groups(kubeapi) -> set[str]:
    import json

    return {g["name"] for g in json.load(open_url(kubeapi, kubeapi.url + "/apis"))["groups"]}
