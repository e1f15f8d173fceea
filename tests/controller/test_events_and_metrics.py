"""Events on the NetworkSync (reconciler/events.py), loop metrics, and the ConfigMap source."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from reconciler.controller import SourceConfig, parse_configmap_ref
from reconciler.controllermetrics import LoopMetrics
from reconciler.errors import ReconcilerError
from reconciler.events import Event, EventRecorder, event_for
from reconciler.loop import Outcome


@pytest.mark.parametrize("result, type_, reason", [
    ("applied", "Normal", "Applied"), ("unchanged", "Normal", "Applied"), ("drifted", "Normal", "Applied"),
    ("failed", "Warning", "ApplyFailed"), ("invalid", "Warning", "InvalidSpec"),
    ("source-error", "Warning", "SourceUnavailable")])
def test_each_outcome_becomes_an_event_with_its_reason(result, type_, reason):
    event = event_for(Outcome(result, "new", "abc123", "demo", 0.5, errors=("boom", "bang"),
                              applied_revision="old1"))

    assert (event.spec, event.type, event.reason) == ("demo", type_, reason)
    if type_ == "Warning":
        assert "boom (+1 more)" in event.message and "revision old1 stays applied" in event.message


def test_an_outcome_without_a_spec_name_has_nothing_to_attach_an_event_to():
    assert event_for(Outcome("source-error", "poll", None, None, 0.1, errors=("unreachable",))) is None


class FakeCluster:
    def __init__(self):
        self.applied: list[dict] = []

    def get(self, obj):
        return {"metadata": {"name": obj["metadata"]["name"], "uid": "u-1"}}

    def apply(self, obj, *, force, manager):
        self.applied.append(obj)
        return obj


def test_a_repeated_event_counts_up_on_the_same_object_and_the_memory_is_bounded():
    cluster = FakeCluster()
    recorder = EventRecorder(lambda: cluster, max_remembered=2, clock=lambda: "2026-01-01T00:00:00Z")
    same = Event("demo", "Warning", "ApplyFailed", "revision x: boom")

    for _ in range(3):
        assert recorder.record(same) is None
    recorder.record(Event("demo", "Normal", "Applied", "a"))
    recorder.record(Event("demo", "Normal", "Applied", "b"))   # pushes `same` out of the memory
    recorder.record(same)

    names = [e["metadata"]["name"] for e in cluster.applied]
    assert [e["count"] for e in cluster.applied] == [1, 2, 3, 1, 1, 1]
    assert names[0] == names[1] == names[2] and len(set(names)) == 4
    assert cluster.applied[0]["involvedObject"] == {"apiVersion": "gitops.spidernet.io/v1alpha1",
                                                    "kind": "NetworkSync", "name": "demo", "uid": "u-1"}
    assert cluster.applied[0]["metadata"]["namespace"] == "default"


def test_an_event_that_cannot_be_written_is_reported_not_raised():
    def broken():
        raise OSError("no route")

    assert "no route" in EventRecorder(broken).record(Event("demo", "Normal", "Applied", "m"))


def test_loop_metrics_count_results_failures_and_the_applied_revision():
    registry = CollectorRegistry()
    metrics = LoopMetrics(registry)
    metrics.observe(Outcome("applied", "new", "r1", "demo", 0.2, applied_revision="r1"), now=lambda: 1000.0)
    metrics.observe(Outcome("invalid", "new", "r2", "demo", 0.1, applied_revision="r1"))
    metrics.observe(Outcome("applied", "new", "r3", "demo", 0.3, applied_revision="r3"), now=lambda: 2000.0)

    text = generate_latest(registry).decode().splitlines()
    assert 'spiderpool_gitops_reconciles_total{result="applied"} 2.0' in text
    assert 'spiderpool_gitops_reconcile_failures_total{reason="InvalidSpec"} 1.0' in text
    assert 'spiderpool_gitops_applied_revision_info{revision="r3",spec="demo"} 1.0' in text
    assert not any('revision="r1"' in line for line in text)
    assert "spiderpool_gitops_apply_duration_seconds_count 3.0" in text
    assert "spiderpool_gitops_last_success_timestamp_seconds 2000.0" in text


def test_a_configmap_source_takes_its_keys_and_falls_back_to_the_flags():
    flags = SourceConfig("git://a/x.git", ref="main", path="specs", interval=30.0)

    assert SourceConfig.from_configmap({"ref": "prod", "interval": "5"}, defaults=flags) == \
        SourceConfig("git://a/x.git", ref="prod", path="specs", interval=5.0)
    assert SourceConfig.from_configmap({"caFile": "/etc/ca/ca.crt"}, defaults=flags).ca_file == "/etc/ca/ca.crt"
    with_ca = SourceConfig("https://a/x.git", ca_file="/etc/flag-ca.pem")
    assert SourceConfig.from_configmap({"ref": "prod"}, defaults=with_ca).ca_file == "/etc/flag-ca.pem"
    with pytest.raises(ReconcilerError, match="no `repo`"):
        SourceConfig.from_configmap({"ref": "main"})
    with pytest.raises(ReconcilerError, match="bad number"):
        SourceConfig.from_configmap({"repo": "x", "interval": "soon"})
    assert parse_configmap_ref("ops/net-source") == ("ops", "net-source")
    with pytest.raises(ReconcilerError):
        parse_configmap_ref("net-source")
