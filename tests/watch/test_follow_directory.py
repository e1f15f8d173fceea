"""`spiderpool watch PATH`: a local directory followed through file events, and how the loop
lives through signals and API errors."""

from __future__ import annotations

import time

import pytest

from tests.watch.gitremote import spec

POOLS = "spiderippools.spiderpool.spidernet.io"
SYNCS = "networksyncs.gitops.spidernet.io"
THREE_POOLS = {"pool-a": "10.6.168.60", "pool-b": "10.6.168.61", "pool-c": "10.6.168.62"}


def test_an_edit_in_a_watched_directory_is_applied(watcher, cluster, tmp_path):
    spec_dir = tmp_path / "network"
    spec_dir.mkdir()
    (spec_dir / "spec.yaml").write_text(spec())
    w = watcher(spec_dir, "--interval", "600", "--debounce", "0.2")   # no poll in this test's lifetime
    first = w.next(lambda o: o["result"] == "applied")
    assert first["revision"].startswith("sha256:")

    (spec_dir / "spec.yaml").write_text(spec(pools={"pool-a": "10.6.168.60-10.6.168.69", "pool-b": "10.6.168.70"}))
    outcome = w.next(lambda o: o["result"] == "applied", timeout=15)

    assert outcome["plan"] == {"add": 1, "change": 0, "destroy": 0}
    assert outcome["revision"] != first["revision"]
    assert cluster.get(POOLS, "pool-b") is not None
    assert cluster.get(SYNCS, "demo")["status"]["revision"] == outcome["revision"]
    assert w.stop() == 0


def test_a_burst_of_writes_is_one_reconcile(watcher, cluster, tmp_path):
    spec_dir = tmp_path / "network"
    spec_dir.mkdir()
    (spec_dir / "spec.yaml").write_text(spec())
    w = watcher(spec_dir, "--interval", "600", "--debounce", "0.5")
    w.next(lambda o: o["result"] == "applied")

    for i in range(10):
        (spec_dir / "spec.yaml").write_text(spec(pools={"pool-a": f"10.6.168.{60 + i}"}))
    w.next(lambda o: o["result"] == "applied", timeout=15)
    time.sleep(1.5)

    assert w.stop() == 0
    assert [o["result"] for o in w.outcomes] == ["applied", "applied"]
    assert cluster.get(POOLS, "pool-a")["spec"]["ips"] == ["10.6.168.69"]


@pytest.mark.testserver
def test_sigterm_during_an_apply_lets_it_finish_then_exits_0(watcher, cluster, tmp_path):
    (tmp_path / "spec.yaml").write_text(spec(pools=THREE_POOLS))
    cluster.faults.configure(slow_rate=1.0, slow_seconds=0.4, verbs={"patch"})   # every write crawls
    w = watcher(tmp_path / "spec.yaml", "--interval", "600", "--concurrency", "1").started()
    deadline = time.monotonic() + 20
    while cluster.faults.injected["slow"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)       # the apply is under way: its first write is being served
    assert cluster.faults.injected["slow"] > 0

    assert w.stop() == 0

    assert w.next(timeout=5)["result"] == "applied"      # the apply under way when SIGTERM came finished
    assert {p["metadata"]["name"] for p in cluster.list(POOLS)} == set(THREE_POOLS)
    assert "spiderpool watch: stopped." in "".join(w.stderr)


@pytest.mark.testserver
def test_api_errors_back_off_and_the_loop_lives_on(watcher, cluster, tmp_path):
    (tmp_path / "spec.yaml").write_text(spec())
    cluster.faults.fail_next(100_000, kind="error", verbs={"patch"})   # every write answers 500
    w = watcher(tmp_path / "spec.yaml", "--interval", "600")

    first = w.next(lambda o: o["result"] == "failed")
    second = w.next(lambda o: o["result"] == "failed")
    assert "500" in first["errors"][0]
    assert (first["retryIn"], second["retryIn"]) == (pytest.approx(1, abs=0.2), pytest.approx(2, abs=0.2))
    assert cluster.get(POOLS, "pool-a") is None

    cluster.faults.reset()
    outcome = w.next(lambda o: o["result"] == "applied", timeout=30)
    assert outcome["reason"] == "retry"
    assert cluster.get(POOLS, "pool-a") is not None
    assert w.stop() == 0
