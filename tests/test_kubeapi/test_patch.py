"""PATCH flavours: merge patch, JSON patch and strategic merge patch (pure and over HTTP)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from tests.kubeapi.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

from .conftest import configmap, widget


@pytest.mark.parametrize("target, patch, result", [
    ({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}, {"a": 1, "b": {"d": 3}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
])
def test_merge_patch_follows_rfc_7386(target, patch, result):
    assert merge_patch(target, patch) == result


def test_json_patch_operations():
    doc = {"a": {"b": [1, 2]}, "c": 1}
    ops = [{"op": "add", "path": "/a/b/-", "value": 3}, {"op": "remove", "path": "/c"},
           {"op": "replace", "path": "/a/b/0", "value": 0}, {"op": "copy", "from": "/a/b", "path": "/d"},
           {"op": "move", "from": "/d", "path": "/e"}, {"op": "test", "path": "/e/2", "value": 3},
           {"op": "add", "path": "/x~1y", "value": True}]
    assert json_patch(doc, ops) == {"a": {"b": [0, 2, 3]}, "e": [0, 2, 3], "x/y": True}


def test_json_patch_test_failures_are_invalid():
    with pytest.raises(PatchError) as caught:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert caught.value.invalid


def test_strategic_merge_patch_merges_containers_by_name():
    live = {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}
    merged = strategic_merge_patch(live, patch)
    assert merged["spec"]["containers"] == [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"},
                                            {"name": "c", "image": "c:1"}]


def test_strategic_merge_patch_directives():
    live = {"metadata": {"finalizers": ["x", "y"]},
            "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}],
                     "tolerations": [{"key": "k"}], "strategy": {"type": "RollingUpdate", "rollingUpdate": {"m": 1}}}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]},
             "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                      "containers": [{"name": "a", "$patch": "delete"}],
                      "tolerations": [{"key": "new"}],
                      "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    merged = strategic_merge_patch(live, patch)
    assert merged == {"metadata": {"finalizers": ["y"]},
                      "spec": {"containers": [{"name": "b", "image": "b:1"}], "tolerations": [{"key": "new"}],
                               "strategy": {"type": "Recreate"}}}


def test_strategic_merge_on_deployments_over_http(apps):
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "proxy", "image": "proxy:1"}]}}}})
    patched = apps.patch_namespaced_deployment("web", "default", {
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "proxy:2"}]}}}})
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [
        ("app", "app:1"), ("proxy", "proxy:2")]


def test_json_patch_over_http(core):
    core.create_namespaced_config_map("default", configmap("cm"))
    patched = core.patch_namespaced_config_map("cm", "default", [{"op": "add", "path": "/data/b", "value": "2"}])
    assert patched.data == {"a": "1", "b": "2"}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", "default", [{"op": "test", "path": "/data/a", "value": "9"}])
    assert caught.value.status == 422


def test_strategic_merge_is_unsupported_for_custom_resources(custom, widgets):
    group, version, plural = widgets
    custom.create_namespaced_custom_object(group, version, "default", plural, widget("w"))
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(group, version, "default", plural, "w", {"spec": {"size": 2}},
                                              _content_type="application/strategic-merge-patch+json")
    assert caught.value.status == 415


def test_patching_a_missing_object_is_not_found(core):
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("nope", "default", {"data": {"a": "1"}})
    assert json.loads(caught.value.body)["reason"] == "NotFound"
