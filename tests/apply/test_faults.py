"""Apply under failure: API errors are retried within a budget, then reported;
a killed apply converges when run again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from reconciler.cli import main
from reconciler.pipeline import render_path
from tests.apply.test_apply import identities, owned
from tests.conftest import EXAMPLES, REPO

EXAMPLE = EXAMPLES / "cross-zone-pools"


def test_conflicts_and_server_errors_are_retried(cli, cluster):
    cluster.faults.configure(conflict_rate=0.3, error_rate=0.2, seed=7)
    code, out, err = cli("apply", EXAMPLE)
    assert code == 0, err
    assert cluster.faults.injected["conflict"] + cluster.faults.injected["error"] > 0
    assert set(owned(cluster, "cross-zone")) == identities(render_path(EXAMPLE))


def test_errors_that_outlast_the_budget_are_reported_with_the_object_and_the_server_message(cli, cluster):
    cluster.faults.fail_next(10_000, kind="error", verbs={"patch"})
    code, out, err = cli("--retry-budget", "0.3", "apply", EXAMPLE)
    assert code == 1
    assert "Apply FAILED" in out
    assert "! SpiderSubnet subnet-6 failed: SpiderSubnet subnet-6: the API server answered 500" in out
    cluster.faults.reset()
    assert "could not record the result in NetworkSync cross-zone" in err
    code, out, _ = cli("status", "-o", "json")
    assert all(item["ready"] != "True" for item in json.loads(out)["items"])  # never recorded as Ready


def test_an_unreachable_server_is_one_clear_error(write_spec, tmp_path, capsys):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    started = time.monotonic()
    code = main(["--kubeconfig", str(kubeconfig), "--retry-budget", "0.5", "apply", str(EXAMPLE)])
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - started < 15
    last = err.splitlines()[-1]
    assert last.startswith("spiderpool: error: ") and "cannot reach the API server" in last
    assert "Traceback" not in err and len(err.splitlines()) <= 2


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
