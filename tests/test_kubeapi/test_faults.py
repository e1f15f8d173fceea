"""Fault injection is off by default, deterministic for a seed, and shaped like real failures."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes.client import ApiException

from tests.kubeapi.faults import Faults

from .conftest import configmap

pytestmark = pytest.mark.testserver  # fault injection is the test server's own


def outcomes(faults: Faults, n: int) -> list[str | None]:
    return [(f.kind if f else None) for f in (faults.decide("patch") for _ in range(n))]


def test_faults_are_off_by_default():
    assert outcomes(Faults(), 50) == [None] * 50


def test_the_same_seed_gives_the_same_faults():
    a, b = Faults(), Faults()
    for faults in (a, b):
        faults.configure(conflict_rate=0.2, error_rate=0.2, slow_rate=0.1, slow_seconds=0.0, seed=7)
    first, second = outcomes(a, 200), outcomes(b, 200)
    assert first == second
    assert {"conflict", "error", "slow", None} == set(first)


def test_reads_are_not_perturbed_unless_asked():
    faults = Faults()
    faults.configure(error_rate=1.0, seed=1)
    assert faults.decide("get") is None and faults.decide("create").kind == "error"


def test_injected_conflicts_look_like_real_ones(kubeapi, core):
    core.create_namespaced_config_map("default", configmap("cm"))
    kubeapi.faults.fail_next(1, kind="conflict")
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", "default", {"data": {"b": "1"}})
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body["message"]
    assert core.patch_namespaced_config_map("cm", "default", {"data": {"b": "1"}}).data["b"] == "1"


def test_injected_errors_are_500_internal_errors(kubeapi, core):
    kubeapi.faults.configure(error_rate=1.0, seed=3)
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", configmap("cm"))
    assert (caught.value.status, json.loads(caught.value.body)["reason"]) == (500, "InternalError")
    kubeapi.faults.reset()
    core.create_namespaced_config_map("default", configmap("cm"))


def test_slow_faults_delay_the_answer(kubeapi, core):
    kubeapi.faults.fail_next(1, kind="slow", seconds=0.3)
    began = time.monotonic()
    core.create_namespaced_config_map("default", configmap("cm"))
    assert time.monotonic() - began >= 0.3
    assert kubeapi.faults.injected["slow"] == 1


def test_read_faults_are_injected_when_reads_are_named(kubeapi, core):
    core.create_namespaced_config_map("default", configmap("cm"))
    kubeapi.faults.configure(error_rate=1.0, seed=1, verbs={"get", "list"})
    for read in (lambda: core.read_namespaced_config_map("cm", "default"),
                 lambda: core.list_namespaced_config_map("default")):
        with pytest.raises(ApiException) as caught:
            read()
        assert (caught.value.status, json.loads(caught.value.body)["reason"]) == (500, "InternalError")
    assert kubeapi.faults.injected["error"] == 2
    core.patch_namespaced_config_map("cm", "default", {"data": {"b": "1"}})  # writes were not named


def test_a_conflict_drawn_for_a_read_is_a_429(kubeapi, core):
    kubeapi.faults.fail_next(1, kind="conflict", verbs={"get"})
    core.create_namespaced_config_map("default", configmap("cm"))  # not a get: the fault waits
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("cm", "default")
    assert caught.value.status == 429
    assert core.read_namespaced_config_map("cm", "default").metadata.name == "cm"


def test_watch_faults_fail_the_watch_request(kubeapi, kube_client):
    from kubernetes import client, watch

    kubeapi.faults.fail_next(1, kind="error", verbs={"watch"})
    with pytest.raises(ApiException) as caught:
        for _ in watch.Watch().stream(client.CoreV1Api(kube_client).list_namespaced_config_map, "default",
                                      timeout_seconds=1):
            pass
    assert caught.value.status == 500
