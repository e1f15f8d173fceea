"""Optimistic concurrency: resourceVersion preconditions answer 409 Conflict like the apiserver."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from .conftest import configmap, widget

MODIFIED = ("the object has been modified; please apply your changes to the latest version and try again")


def test_a_stale_update_is_a_conflict_with_the_apiserver_message(core):
    created = core.create_namespaced_config_map("default", configmap("cm"))
    stale = core.read_namespaced_config_map("cm", "default")
    created.data = {"a": "2"}
    core.replace_namespaced_config_map("cm", "default", created)
    stale.data = {"a": "3"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("cm", "default", stale)
    body = json.loads(caught.value.body)
    assert caught.value.status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == f'Operation cannot be fulfilled on configmaps "cm": {MODIFIED}'
    assert body["details"] == {"name": "cm", "kind": "configmaps"}
    assert core.read_namespaced_config_map("cm", "default").data == {"a": "2"}


def test_a_merge_patch_carrying_a_stale_resource_version_conflicts(core):
    created = core.create_namespaced_config_map("default", configmap("cm"))
    core.patch_namespaced_config_map("cm", "default", {"data": {"a": "2"}})
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", "default", {
            "metadata": {"resourceVersion": created.metadata.resource_version}, "data": {"a": "3"}})
    assert caught.value.status == 409


def test_custom_resources_need_a_resource_version_to_update(custom, widgets):
    group, version, plural = widgets
    custom.create_namespaced_custom_object(group, version, "default", plural, widget("w"))
    body = widget("w", size=2)
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(group, version, "default", plural, "w", body)
    status = json.loads(caught.value.body)
    assert caught.value.status == 422
    assert status["details"]["causes"][0]["field"] == "metadata.resourceVersion"


def test_stale_custom_resource_updates_conflict_with_the_qualified_resource(custom, widgets):
    group, version, plural = widgets
    made = custom.create_namespaced_custom_object(group, version, "default", plural, widget("w"))
    custom.patch_namespaced_custom_object(group, version, "default", plural, "w", {"spec": {"size": 3}})
    made["spec"]["size"] = 4
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(group, version, "default", plural, "w", made)
    assert json.loads(caught.value.body)["message"] == (
        f'Operation cannot be fulfilled on widgets.example.com "w": {MODIFIED}')


def test_delete_preconditions_are_checked(core):
    created = core.create_namespaced_config_map("default", configmap("cm"))
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map("cm", "default", body={"preconditions": {"uid": "not-the-uid"}})
    assert caught.value.status == 409
    core.delete_namespaced_config_map("cm", "default", body={"preconditions": {"uid": created.metadata.uid}})


def test_concurrent_writers_never_both_win_the_same_version(kubeapi, core):
    import threading

    core.create_namespaced_config_map("default", configmap("race", {"n": "0"}))
    base = core.read_namespaced_config_map("race", "default")
    outcomes: list[int] = []

    def write(value: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"n": value},
                "metadata": {"name": "race", "resourceVersion": base.metadata.resource_version}}
        try:
            core.replace_namespaced_config_map("race", "default", body)
            outcomes.append(200)
        except ApiException as err:
            outcomes.append(err.status)

    threads = [threading.Thread(target=write, args=(str(i + 1),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == [200] + [409] * 7
