"""Watches: event streams, resuming from a resourceVersion, 410 Expired, bookmarks, bounds."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import watch
from kubernetes.client import ApiException

from tests.kubeapi import KubeAPIServer

from .conftest import configmap, open_url


def events(core, **kwargs) -> list[tuple[str, str]]:
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", **kwargs)
    return [(e["type"], e["object"].metadata.name) for e in stream]


def test_a_watch_from_a_version_sees_later_changes_in_order(core):
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap("w"))
    core.patch_namespaced_config_map("w", "default", {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w", "default")
    seen = events(core, resource_version=start, timeout_seconds=1)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_a_watch_without_a_version_starts_with_the_current_objects(core):
    core.create_namespaced_config_map("default", configmap("existing"))
    assert events(core, timeout_seconds=1) == [("ADDED", "existing")]


def test_watch_events_arrive_while_the_stream_is_open(core):
    start = core.list_namespaced_config_map("default").metadata.resource_version
    later = threading.Timer(0.3, lambda: core.create_namespaced_config_map("default", configmap("late")))
    later.start()
    try:
        stream = watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=start,
                                      timeout_seconds=5)
        first = next(iter(stream))
        assert (first["type"], first["object"].metadata.name) == ("ADDED", "late")
        stream.close()
    finally:
        later.join()


def test_objects_leaving_a_label_selector_are_deleted_events(core):
    core.create_namespaced_config_map("default", configmap("sel", labels={"app": "x"}))
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.patch_namespaced_config_map("sel", "default", {"metadata": {"labels": {"app": "y"}}})
    core.patch_namespaced_config_map("sel", "default", {"metadata": {"labels": {"app": "x"}}})
    seen = events(core, resource_version=start, label_selector="app=x", timeout_seconds=1)
    assert seen == [("DELETED", "sel"), ("ADDED", "sel")]


@pytest.mark.testserver  # compaction on demand
def test_watching_from_a_compacted_version_is_410_expired(kubeapi, core):
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap("x"))
    kubeapi.compact()
    with pytest.raises(ApiException) as caught:
        events(core, resource_version=start, timeout_seconds=1)
    assert caught.value.status == 410
    assert "Expired: too old resource version" in caught.value.reason


def test_a_small_history_window_expires_old_versions(tmp_path):
    from kubernetes import client, config

    with KubeAPIServer(history_limit=3) as server:
        api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = client.CoreV1Api(api)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(4):
            core.create_namespaced_config_map("default", configmap(f"c{i}"))
        with pytest.raises(ApiException) as caught:
            events(core, resource_version=start, timeout_seconds=1)
        assert caught.value.status == 410
        recent = core.list_namespaced_config_map("default").metadata.resource_version
        assert events(core, resource_version=str(int(recent) - 2), timeout_seconds=1) == [
            ("ADDED", "c2"), ("ADDED", "c3")]
        api.close()


def test_bookmarks_carry_the_current_resource_version(tmp_path):
    from kubernetes import client, config

    with KubeAPIServer(bookmark_interval=0.2) as server:
        api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("kube-system", configmap("elsewhere"))
        current = core.list_namespaced_config_map("default").metadata.resource_version
        stream = watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version="101",
                                      allow_watch_bookmarks=True, timeout_seconds=1)
        bookmarks = [e["raw_object"]["metadata"]["resourceVersion"] for e in stream if e["type"] == "BOOKMARK"]
        assert bookmarks and set(bookmarks) == {current}
        api.close()


def test_watches_end_at_their_timeout(core):
    current = core.list_namespaced_config_map("default").metadata.resource_version
    began = time.monotonic()
    assert events(core, resource_version=current, timeout_seconds=1) == []
    assert 0.9 < time.monotonic() - began < 5


def test_stopping_the_server_ends_open_watches(tmp_path):
    from kubernetes import client, config

    server = KubeAPIServer().start()
    api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc")))
    core = client.CoreV1Api(api)
    done = threading.Event()

    def consume() -> None:
        try:
            events(core, timeout_seconds=60)
        except Exception:  # the connection is cut; any ending is fine
            pass
        done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(0.3)
    server.stop()
    assert done.wait(5)
    api.close()


def test_watching_one_named_object(kubeapi, core):
    import json
    import urllib.request

    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap("a"))
    core.create_namespaced_config_map("default", configmap("b"))
    url = f"{kubeapi.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start}" \
          f"&fieldSelector=metadata.name%3Db&timeoutSeconds=1"
    lines = open_url(kubeapi, url).read().decode().splitlines()
    assert [(json.loads(l)["type"], json.loads(l)["object"]["metadata"]["name"]) for l in lines] == [("ADDED", "b")]
