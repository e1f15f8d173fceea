"""Label and field selectors: the apiserver grammar, and filtering through the client."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from tests.kubeapi.selectors import labels_match, parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "front", "rank": "3"}


@pytest.mark.parametrize("selector, matches", [
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web, db)", True),
    ("app in (db)", False),
    ("app notin (db)", True),
    ("missing notin (db)", True),
    ("app", True),
    ("!app", False),
    ("!missing", True),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("rank>2", True),
    ("rank<2", False),
    ("", True),
])
def test_label_selector_grammar(selector, matches):
    assert labels_match(parse_label_selector(selector), LABELS) is matches


@pytest.mark.parametrize("selector", ["app in web", "=web", "app in (web", "app web"])
def test_malformed_label_selectors_raise(selector):
    with pytest.raises(ValueError):
        parse_label_selector(selector)


def test_field_selectors_only_accept_declared_fields():
    assert parse_field_selector("metadata.name=a,spec.nodeName!=b", {"metadata.name", "spec.nodeName"})
    with pytest.raises(ValueError, match="field label not supported: spec.other"):
        parse_field_selector("spec.other=x", {"metadata.name"})


def test_field_selector_values_can_escape_commas():
    [requirement] = parse_field_selector(r"metadata.name=a\,b", {"metadata.name"})
    assert requirement.value == "a,b"


@pytest.fixture
def labelled(core):
    for name, labels in [("web", {"app": "web", "env": "prod"}), ("db", {"app": "db", "env": "prod"}),
                         ("tmp", {"app": "web"})]:
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})


@pytest.mark.parametrize("selector, expected", [
    ("app=web", ["tmp", "web"]),
    ("app in (web,db),env=prod", ["db", "web"]),
    ("env notin (prod)", ["tmp"]),
    ("!env", ["tmp"]),
    ("env", ["db", "web"]),
])
def test_lists_filter_by_label_selector(core, labelled, selector, expected):
    names = [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector=selector).items]
    assert names == expected


def test_lists_filter_by_name_field_selector(core, labelled):
    listed = core.list_namespaced_config_map("default", field_selector="metadata.name!=web")
    assert [c.metadata.name for c in listed.items] == ["db", "tmp"]


def test_pods_filter_by_node_name(core):
    for name, node in [("a", "node-1"), ("b", "node-2"), ("c", None)]:
        spec = {"containers": [{"name": "c", "image": "busybox"}]}
        if node:
            spec["nodeName"] = node
        core.create_namespaced_pod("default", {"metadata": {"name": name}, "spec": spec})
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-1")
    unscheduled = core.list_namespaced_pod("default", field_selector="spec.nodeName=")
    assert [p.metadata.name for p in on_node.items] == ["a"]
    assert [p.metadata.name for p in unscheduled.items] == ["c"]


def test_unsupported_field_selectors_are_bad_requests(core, apps):
    """Types with the default field-label conversion name the two fields they support; types
    with one of their own (pods, nodes, secrets, custom resources, ...) say less."""
    def refused(call) -> str:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 400
        return json.loads(caught.value.body)["message"]

    only_metadata = '"{}" is not a known field selector: only "metadata.name", "metadata.namespace"'
    assert refused(lambda: core.list_namespaced_config_map("default", field_selector="data.a=1")) == (
        only_metadata.format("data.a"))
    assert refused(lambda: apps.list_namespaced_replica_set("default", field_selector="status.replicas=1")) == (
        only_metadata.format("status.replicas"))
    assert refused(lambda: core.list_namespaced_pod("default", field_selector="spec.bogus=1")) == (
        "field label not supported: spec.bogus")
    assert refused(lambda: core.list_namespaced_config_map("default", field_selector="metadata.name")) == (
        "invalid selector: 'metadata.name'; can't understand 'metadata.name'")


def test_services_select_by_type(core):
    assert core.list_namespaced_service("default", field_selector="spec.type=NodePort").items == []
