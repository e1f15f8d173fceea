"""Two `spiderpool controller` processes against the real API server, one Lease, a git remote on loopback:
one acts, the other takes over when the first is killed."""

from __future__ import annotations

import time
import uuid

from tests.controller.conftest import until
from tests.watch.gitremote import spec

POOLS = "spiderippools.spiderpool.spidernet.io"
SYNCS = "networksyncs.gitops.spidernet.io"
LEASES = "leases.coordination.k8s.io"
TWO_POOLS = {"pool-a": "10.6.168.60-10.6.168.69", "pool-b": "10.6.168.70-10.6.168.79"}
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 4.0, 3.0, 0.5


def start(controllers, name, remote, tmp_path, lease):
    return controllers(
        name, "--repo", remote.git_url, "--ref", "main", "--path", "specs", "--cache-dir", tmp_path / f"cache-{name}",
        "--interval", "1", "--lease-name", lease, "--lease-namespace", "default", "--leader-elect-identity", name,
        "--lease-duration", LEASE_DURATION, "--renew-deadline", RENEW_DEADLINE, "--retry-period", RETRY_PERIOD,
        "--gc-interval", "600", "--coordinator-interval", "600")


def holder(cluster, lease):
    return ((cluster.get(LEASES, lease, "default") or {}).get("spec") or {}).get("holderIdentity")


def revision(cluster):
    return ((cluster.get(SYNCS, "demo") or {}).get("status") or {}).get("revision")


def events(cluster, reason=None):
    return [e for e in cluster.list("events", "default")
            if e["involvedObject"].get("name") == "demo" and e["involvedObject"].get("kind") == "NetworkSync"
            and (reason is None or e["reason"] == reason)]


def test_the_standby_takes_over_within_the_lease_duration_when_the_leader_is_killed(
        remote, controllers, cluster, tmp_path):
    lease = f"spiderpool-controller-{uuid.uuid4().hex[:6]}"
    first = remote.push_spec(spec())
    a = start(controllers, "ctl-a", remote, tmp_path, lease)
    until(lambda: holder(cluster, lease) == "ctl-a", timeout=60, what="A holds the lease", context=a.logs)
    until(lambda: revision(cluster) == first, timeout=60, what="A applies the first commit", context=a.logs)

    b = start(controllers, "ctl-b", remote, tmp_path, lease)
    until(lambda: b.get("/readyz")[0] == 200, timeout=60, what="B is up and has seen the lease", context=b.logs)
    assert "spiderpool_controller_leader 0.0" in b.metrics()
    assert "spiderpool_controller_leader 1.0" in a.metrics()
    assert holder(cluster, lease) == "ctl-a"

    a.kill()
    killed = time.monotonic()
    second = remote.push_spec(spec(pools=TWO_POOLS))
    until(lambda: holder(cluster, lease) == "ctl-b", timeout=LEASE_DURATION + 2 * RETRY_PERIOD + 5,
          what="B takes the lease", every=0.05, context=b.logs)
    took_over = time.monotonic() - killed
    until(lambda: revision(cluster) == second, timeout=30, what="B applies the next push", context=b.logs)
    applied = time.monotonic() - killed
    print(f"failover: lease taken {took_over:.2f}s after SIGKILL (lease duration {LEASE_DURATION:g}s), "
          f"next push applied after {applied:.2f}s")

    assert cluster.get(POOLS, "pool-b")["spec"]["ips"] == ["10.6.168.70-10.6.168.79"]
    assert cluster.get(LEASES, lease, "default")["spec"]["leaseTransitions"] >= 1
    until(lambda: {"ctl-a", "ctl-b"} <= {e["reportingInstance"] for e in events(cluster, "Applied")}, timeout=10,
          what="an Applied event from each replica", context=lambda: str(events(cluster)))
    assert all(e["type"] == "Normal" and e["source"]["component"] == "spiderpool-controller"
               for e in events(cluster, "Applied"))

    lines = b.metrics()
    assert "spiderpool_controller_leader 1.0" in lines
    assert f'spiderpool_gitops_applied_revision_info{{revision="{second}",spec="demo"}} 1.0' in lines
    assert 'spiderpool_gitops_reconciles_total{result="applied"} 1.0' in lines
    assert any(line.startswith("spiderpool_gitops_apply_duration_seconds_count ") for line in lines)
    assert any(line.startswith("spiderpool_gitops_last_success_timestamp_seconds ") for line in lines)
    assert "# TYPE spiderpool_ip_gc_counts_total counter" in lines  # the IP GC's series share the scrape

    assert b.stop() == 0
    assert holder(cluster, lease) == ""  # released on SIGTERM: a standby need not wait out the lease


def test_an_invalid_push_is_an_InvalidSpec_warning_event_and_a_failure_metric(remote, controllers, cluster, tmp_path):
    lease = f"spiderpool-controller-{uuid.uuid4().hex[:6]}"
    good = remote.push_spec(spec())
    c = start(controllers, "ctl-solo", remote, tmp_path, lease)
    until(lambda: revision(cluster) == good, timeout=60, what="the first commit is applied", context=c.logs)

    bad = remote.push_spec(spec(pools=TWO_POOLS, gateway="10.99.0.1"), "a gateway outside the subnet")
    invalid = until(lambda: events(cluster, "InvalidSpec"), timeout=30, what="an InvalidSpec event",
                    context=c.logs)[0]

    assert invalid["type"] == "Warning" and bad in invalid["message"]
    assert f"revision {good} stays applied" in invalid["message"]
    assert cluster.get(POOLS, "pool-b") is None
    assert 'spiderpool_gitops_reconcile_failures_total{reason="InvalidSpec"} 1.0' in c.metrics()
    assert c.stop() == 0


def test_a_leader_that_finds_the_lease_taken_stops_acting_and_exits_1(remote, controllers, cluster, tmp_path):
    lease = f"spiderpool-controller-{uuid.uuid4().hex[:6]}"
    remote.push_spec(spec())
    c = start(controllers, "ctl-usurped", remote, tmp_path, lease)
    until(lambda: holder(cluster, lease) == "ctl-usurped", timeout=60, what="it leads", context=c.logs)

    cluster.patch(LEASES, lease, {"spec": {"holderIdentity": "someone-else"}}, "default")

    assert c.process.wait(timeout=RENEW_DEADLINE + 10) == 1
    assert '"leader election lost"' in c.logs() and "exiting" in c.logs()
    assert holder(cluster, lease) == "someone-else"
