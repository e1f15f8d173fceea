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
