"""Deletion: finalizers hold objects, namespaces cascade, owner references are collected."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from .conftest import configmap, eventually, widget


def gone(read) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_finalizers_keep_a_deleted_object_terminating(core):
    core.create_namespaced_config_map("default", configmap("held", finalizers=["example.com/hold"]))
    answer = core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    assert answer["metadata"]["deletionTimestamp"]


def test_clearing_the_last_finalizer_deletes_the_object(core):
    core.create_namespaced_config_map("default", configmap("held", finalizers=["a/x", "b/y"]))
    core.delete_namespaced_config_map("held", "default")
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": ["b/y"]}})
    assert core.read_namespaced_config_map("held", "default")
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("held", "default")
    assert caught.value.status == 404


def test_no_new_finalizers_on_terminating_objects(core):
    core.create_namespaced_config_map("default", configmap("held", finalizers=["a/x"]))
    core.delete_namespaced_config_map("held", "default")
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": ["a/x", "b/new"]}})
    assert caught.value.status == 422


def test_deleting_a_terminating_object_again_changes_nothing(core):
    core.create_namespaced_config_map("default", configmap("held", finalizers=["a/x"]))
    first = core.delete_namespaced_config_map("held", "default")
    second = core.delete_namespaced_config_map("held", "default")
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]


def test_deletion_bumps_generation_of_custom_resources(custom, widgets):
    group, version, plural = widgets
    body = widget("w")
    body["metadata"]["finalizers"] = ["example.com/cleanup"]
    custom.create_namespaced_custom_object(group, version, "default", plural, body)
    deleted = custom.delete_namespaced_custom_object(group, version, "default", plural, "w")
    assert deleted["metadata"]["generation"] == 2


def test_deleting_a_namespace_deletes_its_contents(core):
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", configmap("a"))
    core.delete_namespace("team")
    # the namespace controller empties it, then it goes
    eventually(lambda: gone(lambda: core.read_namespace("team")), what="namespace team to go")
    assert core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=team").items == []


def test_a_namespace_terminates_until_its_finalized_objects_go(core):
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", configmap("held", finalizers=["a/x"]))
    core.delete_namespace("team")
    assert core.read_namespace("team").status.phase == "Terminating"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("team", configmap("new"))
    assert caught.value.status == 403
    assert json.loads(caught.value.body)["message"] == (
        'configmaps "new" is forbidden: unable to create new content in namespace team because it is being terminated')
    # its contents are deleted; the finalized one waits, and so does the namespace
    eventually(lambda: core.read_namespaced_config_map("held", "team").metadata.deletion_timestamp,
               what="the namespace's contents to be deleted")
    assert core.read_namespace("team").status.phase == "Terminating"
    core.patch_namespaced_config_map("held", "team", {"metadata": {"finalizers": None}})
    eventually(lambda: gone(lambda: core.read_namespace("team")), what="namespace team to go")


def test_dependents_are_garbage_collected_with_their_owner(core):
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map("default", configmap("child", ownerReferences=[ref]))
    core.create_namespaced_config_map("default", configmap("orphan-me", ownerReferences=[ref]))
    core.delete_namespaced_config_map("owner", "default")
    # kube-controller-manager's garbage collector deletes the dependents
    eventually(lambda: core.list_namespaced_config_map("default").items == [], what="the dependents to go")


def test_orphan_propagation_keeps_dependents(core):
    owner = core.create_namespaced_config_map("default", configmap("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map("default", configmap("child", ownerReferences=[ref]))
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    # the garbage collector drops the owner reference, then lets the owner go
    eventually(lambda: gone(lambda: core.read_namespaced_config_map("owner", "default")), what="the owner to go")
    assert core.read_namespaced_config_map("child", "default").metadata.owner_references is None
