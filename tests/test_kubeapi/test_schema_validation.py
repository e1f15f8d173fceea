"""Custom objects are pruned, defaulted and validated against the CRD schema (422 naming fields)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from tests.kubeapi import schema

from .conftest import SP_GROUP, SP_PLURAL, SP_VERSION, open_url, widget


def rejected(call) -> dict:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422
    return json.loads(caught.value.body)


def test_the_ippool_example_message_matches_the_apiserver(custom, ippool_crd):
    pool = {"apiVersion": f"{SP_GROUP}/{SP_VERSION}", "kind": "SpiderIPPool", "metadata": {"name": "p"},
            "spec": {"ipVersion": 5, "subnet": "10.0.0.0/8"}}
    body = rejected(lambda: custom.create_cluster_custom_object(SP_GROUP, SP_VERSION, SP_PLURAL, pool))
    assert body["message"] == ('SpiderIPPool.spiderpool.spidernet.io "p" is invalid: '
                               'spec.ipVersion: Unsupported value: 5: supported values: "4", "6"')
    assert body["details"] == {
        "name": "p", "group": "spiderpool.spidernet.io", "kind": "SpiderIPPool",
        "causes": [{"reason": "FieldValueNotSupported", "field": "spec.ipVersion",
                    "message": 'Unsupported value: 5: supported values: "4", "6"'}]}


@pytest.mark.parametrize("spec, field, words", [
    ({"color": "red"}, "spec.size", "Required value"),
    ({"size": "big"}, "spec.size", 'Invalid value: "string": spec.size in body must be of type integer: "string"'),
    ({"size": 0}, "spec.size", "Invalid value: 0: spec.size in body should be greater than or equal to 1"),
    ({"size": 11}, "spec.size", "Invalid value: 11: spec.size in body should be less than or equal to 10"),
    ({"size": 1, "color": "green"}, "spec.color", 'Unsupported value: "green": supported values: "red", "blue"'),
    ({"size": 1, "name": "ABC"}, "spec.name", "Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"),
    ({"size": 1, "name": "abcdefghij"}, "spec.name", "Too long: may not be more than 8 bytes"),
    ({"size": 1, "tags": ["a", "b", "c", "d"]}, "spec.tags", "Too many: 4: must have at most 3 items"),
    ({"size": 1, "tags": ["a", "a"]}, "spec.tags[1]", 'Duplicate value: "a"'),
    ({"size": 1, "labels": {"k": 1}}, "spec.labels.k", 'Invalid value: "integer": spec.labels.k in body must be of type string: "integer"'),
    ({"size": 1, "cidr": "10.0.0.1"}, "spec.cidr", 'Invalid value: "10.0.0.1": spec.cidr in body must be of type cidr: "10.0.0.1"'),
    ({"size": 1, "ports": [{"port": 1}]}, "spec.ports[0].name", "Required value"),
])
def test_violations_name_the_field_like_the_apiserver(custom, widgets, spec, field, words):
    group, version, plural = widgets
    body = rejected(lambda: custom.create_namespaced_custom_object(group, version, "default", plural,
                                                                   widget("w", **spec)))
    assert body["message"] == f'Widget.example.com "w" is invalid: {field}: {words}'
    assert body["details"]["causes"][0]["field"] == field


def test_all_violations_are_reported_together(custom, widgets):
    group, version, plural = widgets
    body = rejected(lambda: custom.create_namespaced_custom_object(group, version, "default", plural,
                                                                   widget("w", color="green")))
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.color", "spec.size"]
    assert body["message"].endswith('is invalid: [spec.color: Unsupported value: "green": supported values: '
                                    '"red", "blue", spec.size: Required value]')


def test_defaults_fill_in_where_the_parent_exists(custom, widgets):
    group, version, plural = widgets
    made = custom.create_namespaced_custom_object(group, version, "default", plural, widget("w", size=1, nested={}))
    assert made["spec"]["color"] == "red"
    assert made["spec"]["nested"] == {"enabled": True}
    plain = custom.create_namespaced_custom_object(group, version, "default", plural, widget("v", size=1))
    assert "nested" not in plain["spec"]


def test_unknown_fields_are_pruned_with_a_warning(kubeapi, widgets):
    import urllib.request

    body = json.dumps(widget("w", size=1, bogus=True, extra={"kept": {"deep": 1}})).encode()
    request = urllib.request.Request(kubeapi.url + "/apis/example.com/v1/namespaces/default/widgets",
                                     data=body, headers={"Content-Type": "application/json"}, method="POST")
    with open_url(kubeapi, request) as response:
        made = json.load(response)
        assert response.headers.get_all("Warning") == ['299 - "unknown field \\"spec.bogus\\""']
    assert "bogus" not in made["spec"]
    assert made["spec"]["extra"] == {"kept": {"deep": 1}}


def test_strict_field_validation_rejects_unknown_fields(custom, widgets):
    group, version, plural = widgets
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(group, version, "default", plural, widget("w", size=1, bogus=1),
                                               field_validation="Strict")
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus"')


@pytest.mark.parametrize("validation", [None, "Ignore", "Strict"])
def test_apply_configurations_must_declare_only_schema_fields(custom, widgets, validation):
    """Unlike create and update bodies, server-side apply does not prune: any fieldValidation."""
    group, version, plural = widgets
    body = widget("w", size=1, bogus=1)
    extra = {"field_validation": validation} if validation else {}
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(group, version, "default", plural, "w", body, field_manager="t",
                                              _content_type="application/apply-patch+yaml", **extra)
    assert caught.value.status == 500
    status = json.loads(caught.value.body)
    assert "reason" not in status
    assert status["message"] == ("failed to create typed patch object (/w; example.com/v1, Kind=Widget): "
                                 ".spec.bogus: field not declared in schema")


def test_updates_are_validated_too(custom, widgets):
    group, version, plural = widgets
    custom.create_namespaced_custom_object(group, version, "default", plural, widget("w", size=1))
    rejected(lambda: custom.patch_namespaced_custom_object(group, version, "default", plural, "w",
                                                           {"spec": {"size": 50}}))


@pytest.mark.parametrize("value, node, ok", [
    (3, {"type": "integer"}, True),
    (3.0, {"type": "integer"}, True),
    (3.5, {"type": "integer"}, False),
    (True, {"type": "integer"}, False),
    ("x", {"x-kubernetes-int-or-string": True}, True),
    (None, {"type": "string", "nullable": True}, True),
    ("a", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, True),
    ([], {"anyOf": [{"type": "integer"}, {"type": "string"}]}, False),
    (5, {"type": "integer", "multipleOf": 2}, False),
    ("2024-01-01T00:00:00Z", {"type": "string", "format": "date-time"}, True),
    ("fd00::/64", {"type": "string", "format": "cidr"}, True),
])
def test_schema_value_checks(value, node, ok):
    root = {"type": "object", "properties": {"v": node}}
    assert (schema.validate({"v": value}, root) == []) is ok


def test_pruning_keeps_metadata_and_preserved_subtrees():
    root = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}},
                                             "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    obj = {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "odd": 1},
           "spec": {"a": "1", "b": 2}, "free": {"any": [1]}, "top": True}
    assert schema.prune(obj, root) == ["spec.b", "top"]
    assert obj == {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "odd": 1},
                   "spec": {"a": "1"}, "free": {"any": [1]}}
