"""Create, read, update, delete through the official client, and the shapes of the answers."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from .conftest import configmap, open_url


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def test_created_objects_get_server_metadata(core):
    created = core.create_namespaced_config_map("default", configmap("one"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.resource_version.isdigit()
    assert meta.namespace == "default"
    assert core.read_namespaced_config_map("one", "default").data == {"a": "1"}


def test_resource_versions_are_one_global_increasing_counter(core):
    first = core.create_namespaced_config_map("default", configmap("a"))
    second = core.create_namespaced_config_map("kube-system", configmap("b"))
    assert int(second.metadata.resource_version) == int(first.metadata.resource_version) + 1
    listed = core.list_namespaced_config_map("default")
    assert listed.metadata.resource_version == second.metadata.resource_version


def test_replace_changes_the_object_and_its_resource_version(core):
    created = core.create_namespaced_config_map("default", configmap("cm"))
    created.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("cm", "default", created)
    assert replaced.data == {"a": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)


def test_an_unchanged_replace_is_not_a_write(core, kubeapi):
    created = core.create_namespaced_config_map("default", configmap("cm"))
    again = core.replace_namespaced_config_map("cm", "default", created)
    assert again.metadata.resource_version == created.metadata.resource_version


def test_missing_objects_answer_a_not_found_status(core):
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("nope", "default")
    assert caught.value.status == 404
    assert status_of(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps"}, "code": 404}


def test_creating_twice_answers_already_exists(core):
    core.create_namespaced_config_map("default", configmap("dup"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", configmap("dup"))
    body = status_of(caught.value)
    assert caught.value.status == 409
    assert (body["reason"], body["message"]) == ("AlreadyExists", 'configmaps "dup" already exists')


def test_creating_in_a_missing_namespace_is_not_found(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("ghost", configmap("cm"))
    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'namespaces "ghost" not found'


def test_invalid_names_are_rejected_with_the_field_named(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", configmap("Not_Valid"))
    body = status_of(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["message"].startswith('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"')


def test_generate_name_makes_a_unique_name(core):
    made = {core.create_namespaced_config_map("default", configmap("", generateName="gen-")).metadata.name
            for _ in range(3)}
    assert len(made) == 3 and all(n.startswith("gen-") and len(n) == 9 for n in made)


def test_delete_removes_and_answers_a_success_status(core):
    core.create_namespaced_config_map("default", configmap("gone"))
    answer = core.delete_namespaced_config_map("gone", "default")
    assert answer["status"] == "Success" and answer["details"]["name"] == "gone"
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("gone", "default")


def test_lists_page_with_limit_and_continue(core):
    for i in range(5):
        core.create_namespaced_config_map("default", configmap(f"page-{i}"))
    first = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in first.items] == ["page-0", "page-1"]
    assert first.metadata.remaining_item_count == 3
    names = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map("default", limit=2, _continue=token)
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert names == [f"page-{i}" for i in range(5)]


def test_lists_across_namespaces(core):
    def everywhere() -> set[tuple[str, str]]:
        return {(c.metadata.namespace, c.metadata.name) for c in core.list_config_map_for_all_namespaces().items}

    before = everywhere()  # kube-apiserver keeps a few of its own in kube-system
    assert {n for n, _ in before} <= {"kube-system"}
    core.create_namespaced_config_map("default", configmap("x"))
    core.create_namespaced_config_map("kube-system", configmap("y"))
    assert everywhere() - before == {("default", "x"), ("kube-system", "y")}


def test_a_cluster_starts_with_the_usual_namespaces(core):
    names = {n.metadata.name for n in core.list_namespace().items}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}
    default = core.read_namespace("default")
    assert default.status.phase == "Active"
    assert default.metadata.labels == {"kubernetes.io/metadata.name": "default"}


def test_built_in_list_items_carry_no_kind_but_custom_ones_do(kubeapi, widgets, custom):
    import urllib.request

    custom.create_namespaced_custom_object(*widgets[:2], "default", widgets[2], {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}})
    kubeapi.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}})
    cms = json.load(open_url(kubeapi, kubeapi.url + "/api/v1/namespaces/default/configmaps"))
    ws = json.load(open_url(kubeapi, kubeapi.url + "/apis/example.com/v1/namespaces/default/widgets"))
    assert "kind" not in cms["items"][0] and cms["kind"] == "ConfigMapList"
    assert ws["items"][0]["kind"] == "Widget" and ws["kind"] == "WidgetList"
