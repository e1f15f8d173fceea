"""The status subresource is separated both ways; metadata.generation tracks spec changes."""

from __future__ import annotations

import pytest
from kubernetes.client import ApiException

from .conftest import open_url, widget


@pytest.fixture
def made(custom, widgets):
    group, version, plural = widgets
    custom.create_namespaced_custom_object(group, version, "default", plural, widget("w", size=1))
    return lambda: custom.get_namespaced_custom_object(group, version, "default", plural, "w")


def test_status_sent_on_create_is_dropped(custom, widgets):
    group, version, plural = widgets
    body = {**widget("w"), "status": {"ready": True}}
    created = custom.create_namespaced_custom_object(group, version, "default", plural, body)
    assert "status" not in created


def test_main_resource_writes_cannot_change_status(custom, widgets, made):
    group, version, plural = widgets
    custom.patch_namespaced_custom_object_status(group, version, "default", plural, "w", {"status": {"ready": True}})
    custom.patch_namespaced_custom_object(group, version, "default", plural, "w",
                                          {"spec": {"size": 2}, "status": {"ready": False}})
    assert made()["status"] == {"ready": True}
    assert made()["spec"]["size"] == 2


def test_status_writes_change_nothing_but_status(custom, widgets, made):
    group, version, plural = widgets
    current = made()
    current["spec"]["size"] = 9
    current["metadata"]["labels"] = {"sneaky": "yes"}
    current["status"] = {"ready": True, "count": 3}
    custom.replace_namespaced_custom_object_status(group, version, "default", plural, "w", current)
    after = made()
    assert after["status"] == {"ready": True, "count": 3}
    assert after["spec"]["size"] == 1 and "labels" not in after["metadata"]


def test_status_is_validated_against_the_schema(custom, widgets, made):
    group, version, plural = widgets
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object_status(group, version, "default", plural, "w", {"status": {"count": -1}})
    assert caught.value.status == 422


def test_generation_starts_at_one_and_follows_spec_changes_only(custom, widgets, made):
    group, version, plural = widgets
    assert made()["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object(group, version, "default", plural, "w", {"metadata": {"labels": {"a": "b"}}})
    assert made()["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object_status(group, version, "default", plural, "w", {"status": {"ready": True}})
    assert made()["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object(group, version, "default", plural, "w", {"spec": {"size": 5}})
    assert made()["metadata"]["generation"] == 2


def test_status_writes_use_resource_version_preconditions(custom, widgets, made):
    group, version, plural = widgets
    stale = made()
    custom.patch_namespaced_custom_object_status(group, version, "default", plural, "w", {"status": {"count": 1}})
    stale["status"] = {"count": 2}
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object_status(group, version, "default", plural, "w", stale)
    assert caught.value.status == 409


def test_types_without_a_status_subresource_have_no_status_path(kubeapi, core):
    import urllib.error
    import urllib.request

    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    with pytest.raises(urllib.error.HTTPError) as caught:
        open_url(kubeapi, kubeapi.url + "/api/v1/namespaces/default/configmaps/cm/status")
    assert caught.value.code == 404


def test_deployment_status_and_generation(apps):
    deployment = {
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }
    created = apps.create_namespaced_deployment("default", deployment)
    assert created.metadata.generation == 1
    # each answer is read atomically: a deployment controller may rewrite status in between
    reported = apps.patch_namespaced_deployment_status("web", "default", {"status": {"readyReplicas": 1, "replicas": 1}})
    assert reported.status.ready_replicas == 1 and reported.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}, "status": {"readyReplicas": 7}})
    assert scaled.metadata.generation == 2
    assert scaled.spec.replicas == 3 and scaled.status.ready_replicas != 7
