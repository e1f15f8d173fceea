"""dryRun=All: every write validates and answers what it would store, and stores nothing."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiException

from .conftest import configmap, widget


def test_dry_run_create_stores_nothing_and_has_no_resource_version(kubeapi, core):
    rv_before = core.list_namespaced_config_map("default").metadata.resource_version
    answer = core.create_namespaced_config_map("default", configmap("dry"), dry_run="All")
    assert answer.metadata.name == "dry" and answer.metadata.uid
    assert answer.metadata.resource_version is None
    assert kubeapi.get("configmaps", "dry", "default") is None
    assert core.list_namespaced_config_map("default").metadata.resource_version == rv_before


def test_dry_run_update_and_patch_return_the_result_without_storing(core):
    created = core.create_namespaced_config_map("default", configmap("cm"))
    created.data = {"a": "2"}
    assert core.replace_namespaced_config_map("cm", "default", created, dry_run="All").data == {"a": "2"}
    assert core.patch_namespaced_config_map("cm", "default", {"data": {"b": "3"}}, dry_run="All").data == {
        "a": "1", "b": "3"}
    stored = core.read_namespaced_config_map("cm", "default")
    assert stored.data == {"a": "1"}
    assert stored.metadata.resource_version == created.metadata.resource_version


def test_dry_run_server_side_apply_shows_the_merged_object(core):
    core.create_namespaced_config_map("default", configmap("cm"))
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"b": "2"}}
    planned = core.patch_namespaced_config_map("cm", "default", body, field_manager="planner", dry_run="All",
                                               _content_type="application/apply-patch+yaml")
    assert planned.data == {"a": "1", "b": "2"}
    assert "planner" in {m.manager for m in planned.metadata.managed_fields}
    assert core.read_namespaced_config_map("cm", "default").data == {"a": "1"}


def test_dry_run_apply_of_a_missing_object_does_not_create_it(kubeapi, core):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}, "data": {"a": "1"}}
    core.patch_namespaced_config_map("new", "default", body, field_manager="planner", dry_run="All",
                                     _content_type="application/apply-patch+yaml")
    assert kubeapi.get("configmaps", "new", "default") is None


def test_dry_run_still_validates(custom, widgets):
    group, version, plural = widgets
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(group, version, "default", plural, widget("w", size=99), dry_run="All")
    assert caught.value.status == 422


def test_dry_run_applies_schema_defaults(kubeapi, custom, widgets):
    group, version, plural = widgets
    planned = custom.create_namespaced_custom_object(group, version, "default", plural, widget("w"), dry_run="All")
    assert planned["spec"]["color"] == "red"
    assert kubeapi.get("widgets.example.com", "w", "default") is None


def test_dry_run_delete_keeps_the_object(core):
    core.create_namespaced_config_map("default", configmap("keep"))
    core.delete_namespaced_config_map("keep", "default", dry_run="All")
    assert core.read_namespaced_config_map("keep", "default")


def test_dry_runs_are_counted_apart_from_writes(kubeapi, core):
    core.create_namespaced_config_map("default", configmap("cm"))
    kubeapi.stats.reset()
    core.patch_namespaced_config_map("cm", "default", {"data": {"b": "1"}}, dry_run="All")
    assert kubeapi.stats.writes == 0
    assert kubeapi.stats.dry_runs["patch"] == 1
    core.patch_namespaced_config_map("cm", "default", {"data": {"b": "1"}})
    assert kubeapi.stats.writes == 1
