"""Apply under failure: API errors are retried within a budget, then reported;
a killed apply converges when run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reconciler.cli import main
from reconciler.pipeline import render_path
from tests.apply.test_apply import identities, object_writes, owned
from tests.conftest import EXAMPLES, REPO

EXAMPLE = EXAMPLES / "cross-zone-pools"


@pytest.mark.testserver
def test_conflicts_and_server_errors_are_retried(cli, cluster):
    cluster.faults.configure(conflict_rate=0.3, error_rate=0.2, seed=7)
    code, out, err = cli("apply", EXAMPLE)
    assert code == 0, err
    assert cluster.faults.injected["conflict"] + cluster.faults.injected["error"] > 0
    assert set(owned(cluster, "cross-zone")) == identities(render_path(EXAMPLE))


@pytest.mark.testserver
def test_failing_reads_are_retried_too(cli, cluster):
    """The plan's LISTs and the NetworkSync GET meet 500s and 429s: retried within the budget."""
    cluster.faults.configure(conflict_rate=0.2, error_rate=0.3, seed=11, verbs={"get", "list"})
    code, out, err = cli("apply", EXAMPLE)
    assert code == 0, err
    assert cluster.faults.injected["error"] + cluster.faults.injected["conflict"] > 0
    assert set(owned(cluster, "cross-zone")) == identities(render_path(EXAMPLE))


@pytest.mark.testserver
def test_reads_that_fail_past_the_budget_stop_the_apply_before_any_write(cli, cluster):
    cluster.faults.fail_next(10_000, kind="error", verbs={"list"})
    code, out, err = cli("--retry-budget", "0.3", "apply", EXAMPLE)
    assert code == 1 and cluster.stats.writes == 0
    assert "the API server answered 500 InternalError" in err.splitlines()[-1]


@pytest.mark.testserver
def test_errors_that_outlast_the_budget_are_reported_with_the_object_and_the_server_message(cli, cluster):
    """Persistent 500s: the dry runs of the plan fail, so nothing is written at all."""
    cluster.faults.fail_next(10_000, kind="error", verbs={"patch"})
    code, out, err = cli("--retry-budget", "0.3", "apply", EXAMPLE)
    assert code == 1 and object_writes(cluster) == []  # the dry runs failed first: nothing was written
    assert err.splitlines()[-1].startswith("spiderpool: error: ")
    assert "the API server answered 500 InternalError: Internal error occurred: injected fault" in err
    assert any(f"{kind} " in err for kind in ("SpiderSubnet", "SpiderIPPool", "SpiderReservedIP",
                                              "NetworkAttachmentDefinition"))
    cluster.faults.reset()
    code, out, _ = cli("status", "-o", "json")
    assert all(item["ready"] != "True" for item in json.loads(out)["items"])  # never recorded as Ready


def test_an_unreachable_server_is_one_clear_error(unreachable_kubeconfig, capsys):
    kubeconfig = unreachable_kubeconfig
    started = time.monotonic()
    code = main(["--kubeconfig", str(kubeconfig), "--retry-budget", "0.5", "apply", str(EXAMPLE)])
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - started < 15
    last = err.splitlines()[-1]
    assert last.startswith("spiderpool: error: ") and "cannot reach the API server" in last
    assert "Traceback" not in err and len(err.splitlines()) <= 2


@pytest.mark.testserver
def test_an_apply_killed_midway_converges_on_the_next_run(cluster):
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    cluster.faults.configure(slow_rate=1.0, slow_seconds=0.3, verbs={"patch"})
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(EXAMPLE)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while cluster.stats.writes < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    partial = owned(cluster, "cross-zone")
    rendered = identities(render_path(EXAMPLE))
    assert 0 < len(partial) < len(rendered)
    cluster.faults.reset()
    rerun = subprocess.run([sys.executable, "-m", "reconciler", "apply", str(EXAMPLE)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert set(owned(cluster, "cross-zone")) == rendered
    again = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(EXAMPLE), "--detailed-exitcode"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout


def test_objects_the_server_would_refuse_stop_the_apply_before_any_write(cli, cluster):
    # A stricter SpiderIPPool schema on this server (as an admission policy might be):
    # pools may not name a gateway. Our own validation accepts the spec; the server does not.
    import copy

    import schemas
    from ruamel.yaml import YAML

    path = next(p for p in schemas.crd_paths() if p.name.endswith("spiderippools.yaml"))
    crd = YAML(typ="safe").load(path.read_text())
    strict = copy.deepcopy(crd)
    spec_schema = strict["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["gateway"]["maxLength"] = 0
    from kubernetes import client

    from tests.kubeapi.fixtures import api_client_for

    api = api_client_for(cluster)
    live = client.ApiextensionsV1Api(api).read_custom_resource_definition(crd["metadata"]["name"]).to_dict()
    strict["metadata"]["resourceVersion"] = live["metadata"]["resource_version"]
    client.ApiextensionsV1Api(api).replace_custom_resource_definition(crd["metadata"]["name"], strict)
    api.close()
    cluster.stats.reset()

    code, out, err = cli("plan", EXAMPLE)
    assert code == 1
    assert "! SpiderIPPool test-ippool-6 REJECTED by the API server" in out
    code, out, err = cli("apply", EXAMPLE)
    assert code == 1 and object_writes(cluster) == []
    assert "the API server would refuse 2 object(s); nothing was applied" in err
    assert "spec.gateway" in err


@pytest.mark.testserver
def test_a_request_that_hangs_times_out_and_is_reported(cli, cluster):
    cluster.faults.fail_next(10_000, kind="slow", seconds=3.0, verbs={"patch"})
    started = time.monotonic()
    code, out, err = cli("--request-timeout", "0.3", "--retry-budget", "0.5", "apply", EXAMPLE)
    assert code == 1 and time.monotonic() - started < 30
    assert "cannot reach the API server" in err and "timed out" in err.lower()


def test_failures_during_the_writes_are_reported_per_object_and_recorded(cli, cluster, monkeypatch):
    """Writes that fail after the dry runs passed: each object's outcome is shown and the
    NetworkSync says Stalled."""
    from reconciler import kube

    real_apply = kube.Cluster.apply

    def flaky(self, obj, *, force=False, dry_run=False, **kwargs):
        if not dry_run and obj["kind"] == "SpiderReservedIP":
            raise kube.ClusterError(f"SpiderReservedIP {obj['metadata']['name']}: the API server answered 500 "
                                    "InternalError: disk full", status=500)
        return real_apply(self, obj, force=force, dry_run=dry_run, **kwargs)

    monkeypatch.setattr(kube.Cluster, "apply", flaky)
    code, out, err = cli("apply", EXAMPLE)
    assert code == 1
    assert "! SpiderReservedIP routers failed: SpiderReservedIP routers: the API server answered 500" in out
    assert "Apply FAILED: 4 created, 1 failed, 1 not attempted." in out  # the NAD's level is never reached
    assert "NetworkAttachmentDefinition" not in out
    monkeypatch.undo()
    sync = cluster.get("networksyncs.gitops.spidernet.io", "cross-zone")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in sync["status"]["conditions"]}
    assert conditions["Ready"] == ("False", "ApplyFailed") and conditions["Stalled"][0] == "True"


@pytest.mark.testserver
def test_persistent_dry_run_conflicts_share_one_retry_budget_and_are_reported_as_conflicts(cli, cluster, write_spec):
    """Issue 8 item 12: 409s on every dry run. Each object used to retry for the whole budget
    (ceil(N/8) budgets in all) and the outcome read "the API server would refuse N object(s)"."""
    pools = "".join(f"    - {{name: p{i}, subnet: 10.6.0.0/16, ips: [10.6.{i}.1], gateway: 10.6.255.254}}\n"
                    for i in range(64))
    spec = write_spec("spec:\n  cluster: {ipVersions: [4]}\n  ippools:\n" + pools)
    cluster.faults.fail_next(100_000, kind="conflict", verbs={"patch"})
    code, out, err = cli("--retry-budget", "0.5", "apply", spec)
    assert code == 1 and object_writes(cluster) == []
    last = err.splitlines()[-1]
    assert "the API server kept answering 409 Conflict to the dry run of 64 object(s)" in last
    assert "would refuse" not in err
    # one window for the run: a first try for each object, then only the retries that fit one 0.5 s
    # window for the 8 requests in flight (backoff 0.1, 0.2, 0.4 s: ~4 each) — not N x (budget/backoff)
    assert cluster.stats.dry_runs["patch"] < 64 + 8 * 5, cluster.stats.dry_runs
