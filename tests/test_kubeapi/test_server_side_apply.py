"""Server-side apply: create-or-update, field managers, conflicts, force, removal of fields."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

APPLY = "application/apply-patch+yaml"
from .conftest import open_url


def apply_cm(core, data: dict, *, manager: str, force: bool = False, name: str = "cfg", labels=None):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    if labels:
        body["metadata"]["labels"] = labels
    return core.patch_namespaced_config_map(name, "default", body, field_manager=manager, force=force,
                                            _content_type=APPLY)


def owners(obj) -> dict:
    return {(m.manager, m.operation): m.fields_v1 for m in obj.metadata.managed_fields or []}


def test_apply_creates_a_missing_object_and_records_the_manager(core):
    made = apply_cm(core, {"a": "1"}, manager="tool")
    assert made.data == {"a": "1"}
    assert owners(made) == {("tool", "Apply"): {"f:data": {"f:a": {}}}}


def test_reapplying_the_same_configuration_writes_nothing(kubeapi, core):
    first = apply_cm(core, {"a": "1"}, manager="tool")
    kubeapi.stats.reset()
    again = apply_cm(core, {"a": "1"}, manager="tool")
    assert again.metadata.resource_version == first.metadata.resource_version
    assert kubeapi.stats.requests["patch"] == 1


def test_changing_another_managers_field_is_a_conflict_naming_both(core):
    apply_cm(core, {"a": "1"}, manager="alice")
    with pytest.raises(ApiException) as caught:
        apply_cm(core, {"a": "2"}, manager="bob")
    body = json.loads(caught.value.body)
    assert caught.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice": .data.a'
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.a"}]


def test_conflicts_with_update_managers_name_their_api_version(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "1"}},
                                      field_manager="editor")
    with pytest.raises(ApiException) as caught:
        apply_cm(core, {"a": "2", "b": "2"}, manager="bob")
    assert json.loads(caught.value.body)["message"] == (
        'Apply failed with 2 conflicts: conflicts with "editor" using v1:\n- .data.a\n- .data.b')


def test_force_takes_ownership_of_conflicting_fields(core):
    apply_cm(core, {"a": "1", "b": "1"}, manager="alice")
    taken = apply_cm(core, {"a": "2"}, manager="bob", force=True)
    assert taken.data == {"a": "2", "b": "1"}
    assert owners(taken) == {("alice", "Apply"): {"f:data": {"f:b": {}}}, ("bob", "Apply"): {"f:data": {"f:a": {}}}}


def test_applying_the_same_value_shares_ownership_without_conflict(core):
    apply_cm(core, {"a": "1"}, manager="alice")
    shared = apply_cm(core, {"a": "1"}, manager="bob")
    assert set(owners(shared)) == {("alice", "Apply"), ("bob", "Apply")}


def test_fields_dropped_from_the_configuration_are_removed(core):
    apply_cm(core, {"a": "1", "b": "1"}, manager="tool", labels={"x": "1", "y": "1"})
    trimmed = apply_cm(core, {"a": "1"}, manager="tool", labels={"x": "1"})
    assert trimmed.data == {"a": "1"}
    assert trimmed.metadata.labels == {"x": "1"}


def test_fields_still_owned_by_another_manager_survive_removal(core):
    apply_cm(core, {"a": "1", "b": "1"}, manager="alice")
    apply_cm(core, {"b": "1"}, manager="bob")
    after = apply_cm(core, {"a": "1"}, manager="alice")
    assert after.data == {"a": "1", "b": "1"}
    assert owners(after)[("bob", "Apply")] == {"f:data": {"f:b": {}}}


def test_fields_set_by_other_writers_are_kept(core):
    apply_cm(core, {"a": "1"}, manager="tool")
    core.patch_namespaced_config_map("cfg", "default", {"data": {"manual": "yes"}}, field_manager="human")
    after = apply_cm(core, {"a": "2"}, manager="tool")
    assert after.data == {"a": "2", "manual": "yes"}


def test_updates_take_ownership_from_appliers(core):
    apply_cm(core, {"a": "1"}, manager="tool")
    edited = core.patch_namespaced_config_map("cfg", "default", {"data": {"a": "hand"}}, field_manager="human")
    assert ("tool", "Apply") not in owners(edited)
    with pytest.raises(ApiException) as caught:
        apply_cm(core, {"a": "1"}, manager="tool")
    assert '"human" using v1' in json.loads(caught.value.body)["message"]


def test_associative_lists_merge_by_key(apps):
    def deployment(containers):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}}

    apps.patch_namespaced_deployment("web", "default", deployment([{"name": "app", "image": "app:1"}]),
                                     field_manager="platform", _content_type=APPLY)
    merged = apps.patch_namespaced_deployment("web", "default", deployment([{"name": "sidecar", "image": "proxy:1"}]),
                                              field_manager="mesh", _content_type=APPLY)
    assert [c.name for c in merged.spec.template.spec.containers] == ["app", "sidecar"]
    mesh = owners(merged)[("mesh", "Apply")]
    assert 'k:{"name":"sidecar"}' in mesh["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_list_items_dropped_from_the_configuration_are_removed_whole(apps):
    def deployment(*names):
        containers = [{"name": n, "image": f"{n}:1"} for n in names]
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}}

    apps.patch_namespaced_deployment("web", "default", deployment("app", "sidecar"), field_manager="platform",
                                     _content_type=APPLY)
    after = apps.patch_namespaced_deployment("web", "default", deployment("app"), field_manager="platform",
                                             _content_type=APPLY)
    assert [(c.name, c.image) for c in after.spec.template.spec.containers] == [("app", "app:1")]


def test_conflicts_inside_list_items_name_the_item_key(apps):
    def deployment(image):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": image}]}}}}

    apps.patch_namespaced_deployment("web", "default", deployment("app:1"), field_manager="one", _content_type=APPLY)
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web", "default", deployment("app:2"), field_manager="two",
                                         _content_type=APPLY)
    assert json.loads(caught.value.body)["details"]["causes"][0]["field"] == (
        '.spec.template.spec.containers[name="app"].image')


def test_custom_resource_map_lists_merge_and_sets_union(custom, widgets):
    group, version, plural = widgets

    def apply(manager, **spec):
        body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1, **spec}}
        return custom.patch_namespaced_custom_object(group, version, "default", plural, "w", body,
                                                     field_manager=manager, _content_type=APPLY)

    apply("one", ports=[{"name": "http", "port": 80}], tags=["a"])
    merged = apply("two", ports=[{"name": "dns", "port": 53}], tags=["b"])
    assert merged["spec"]["ports"] == [{"name": "http", "port": 80}, {"name": "dns", "port": 53}]
    assert merged["spec"]["tags"] == ["a", "b"]


def test_apply_to_the_status_subresource_is_tracked_separately(custom, widgets):
    group, version, plural = widgets
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}
    custom.patch_namespaced_custom_object(group, version, "default", plural, "w", body,
                                          field_manager="ctl", _content_type=APPLY)
    status = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 7}, "status": {"ready": True}}
    after = custom.patch_namespaced_custom_object_status(group, version, "default", plural, "w", status,
                                                         field_manager="ctl", _content_type=APPLY)
    assert after["status"] == {"ready": True} and after["spec"]["size"] == 1
    entries = {(m["manager"], m.get("subresource", "")) for m in after["metadata"]["managedFields"]}
    assert entries == {("ctl", ""), ("ctl", "status")}


def test_apply_requires_a_field_manager(kubeapi):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(kubeapi.url + "/api/v1/namespaces/default/configmaps/x", method="PATCH",
                                     data=b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                                     headers={"Content-Type": APPLY})
    with pytest.raises(urllib.error.HTTPError) as caught:
        open_url(kubeapi, request)
    assert caught.value.code == 422
    assert json.load(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Invalid", "code": 422,
        "message": 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        "details": {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
            {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
             "field": "fieldManager"}]}}


def test_yaml_apply_bodies_keep_timestamps_as_strings(kubeapi):
    import urllib.request

    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {when: 2024-01-01}\n"
    request = urllib.request.Request(kubeapi.url + "/api/v1/namespaces/default/configmaps/x?fieldManager=t",
                                     method="PATCH", data=body, headers={"Content-Type": APPLY})
    assert json.load(open_url(kubeapi, request))["data"] == {"when": "2024-01-01"}


def test_client_supplied_managed_fields_replace_the_tracked_ones(core):
    apply_cm(core, {"a": "1", "b": "1"}, manager="tool")
    reset = core.patch_namespaced_config_map("cfg", "default", {"metadata": {"managedFields": [{}]}})
    assert reset.metadata.managed_fields is None
    # updates of an object without managedFields do not start tracking them
    edited = core.patch_namespaced_config_map("cfg", "default", {"data": {"c": "1"}}, field_manager="human")
    assert edited.metadata.managed_fields is None
    # an apply does: every field there is owned by "before-first-apply" first
    with pytest.raises(ApiException) as caught:
        apply_cm(core, {"a": "9"}, manager="other")
    body = json.loads(caught.value.body)
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .data.a'
    assert body["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".data.a",
                                          "message": 'conflict with "before-first-apply" using v1'}]
    taken = apply_cm(core, {"a": "9"}, manager="other", force=True)
    assert taken.data == {"a": "9", "b": "1", "c": "1"}
    assert owners(taken) == {("other", "Apply"): {"f:data": {"f:a": {}}},
                             ("before-first-apply", "Update"): {"f:data": {".": {}, "f:b": {}, "f:c": {}}}}
