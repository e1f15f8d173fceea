"""Shared fixtures for the test API server's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.kubeapi.fixtures import kube_client, kubeapi, kubeapi_tls  # noqa: F401

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
    kubeapi.create(WIDGET_CRD)
    return "example.com", "v1", "widgets"


@pytest.fixture
def ippool_crd(kubeapi):
    kubeapi.create(yaml.safe_load(IPPOOL_CRD.read_text()))
    return SP_GROUP, SP_VERSION, SP_PLURAL


def widget(object_name: str, **spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": object_name},
            "spec": spec or {"size": 1}}


def configmap(name: str, data: dict | None = None, **metadata) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata},
            "data": data or {"a": "1"}}
