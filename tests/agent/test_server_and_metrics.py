"""The socket (0600, stale file replaced, a live agent's never stolen), the probes, and /metrics."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from agent.metrics import Counter, Histogram
from agent.server import AgentServer, Routes, SocketInUse


def routes() -> Routes:
    return Routes(cni=lambda body, peer: {"exitCode": 0, "stdout": ""}, ready=lambda: [], metrics=lambda: "")


def test_the_socket_is_created_0600_in_a_new_directory_replacing_a_stale_file(sock_dir):
    path = sock_dir / "run" / "spidernet" / "spiderpool.sock"
    path.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a killed agent's leftover: nobody listens

    server = AgentServer(str(path), routes())
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(SocketInUse, match="another process"):
            AgentServer(str(path), routes())
    finally:
        server.stop()
    assert not path.exists()


def test_probes_and_metrics_of_a_running_agent(cluster, objects, agents):
    objects.pool("p4", ["10.6.1.1-10.6.1.9"], default=True)
    agent = agents("worker1")
    agent.add(objects.pod("web", "worker1"))
    agent.add(objects.pod("other", "worker1", annotations={"ipam.spidernet.io/ippool": "{bad"}))

    assert agent.client.get("/healthz") == (200, "ok\n")
    assert agent.client.get("/readyz") == (200, "ok\n")
    status, text = agent.client.get("/metrics")

    assert status == 200
    lines = text.splitlines()
    assert 'spiderpool_ipam_allocation_counts_total{pool="p4",result="success"} 1.0' in lines
    assert 'spiderpool_ipam_allocation_failure_counts_total{reason="wrong_input"} 1.0' in lines
    assert 'spiderpool_agent_ippool_status_writes_total{result="ok"} 1.0' in lines
    assert 'spiderpool_agent_endpoint_writes_total{verb="create"} 1.0' in lines
    assert 'spiderpool_ipam_allocation_duration_seconds_count{result="success"} 1.0' in lines
    assert "# TYPE spiderpool_ipam_release_duration_seconds histogram" in lines
    assert 'spiderpool_agent_cache_synced{kind="spiderippools"} 1.0' in lines


def test_counters_and_histograms_render_the_prometheus_text_format_through_prometheus_client():
    counter = Counter("demo_counts", "demo", ("pool",))
    counter.inc(pool='a"b')
    histogram = Histogram("demo_seconds", "demo", buckets=(0.1, 1.0))
    histogram.observe(0.05)
    histogram.observe(0.5)

    assert counter.render()[2:] == ['demo_counts_total{pool="a\\"b"} 1.0']  # no demo_counts_created series
    assert histogram.render()[2:] == ['demo_seconds_bucket{le="0.1"} 1.0', 'demo_seconds_bucket{le="1.0"} 2.0',
                                      'demo_seconds_bucket{le="+Inf"} 2.0', "demo_seconds_count 2.0",
                                      "demo_seconds_sum 0.55"]


def test_the_agent_process_answers_probes_over_tcp_but_never_the_plugin_routes(cluster, objects, sock_dir):
    """`spiderpool agent --health-listen` is what the chart's httpGet probes and the metrics
    Service reach (a kubelet cannot probe a unix socket); CNI requests stay on the socket."""
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.conftest import REPO, eventually
    from tests.watch.gitremote import free_port

    objects.node("worker1")
    port = free_port()
    argv = [sys.executable, "-m", "reconciler", "agent", "--node", "worker1", "--socket", str(sock_dir / "a.sock")]
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}

    bad = subprocess.run([*argv, "--health-listen", "nowhere"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "'nowhere' is not HOST:PORT" in bad.stdout + bad.stderr

    def get(path: str, data: bytes | None = None) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data),
                                        timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    agent = subprocess.Popen([*argv, "--health-listen", f"127.0.0.1:{port}"], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: get("/readyz") == (200, "ok\n"), timeout=30, what="/readyz 200 over TCP")
        assert get("/healthz") == (200, "ok\n")
        status, text = get("/metrics")
        assert status == 200 and "spiderpool_agent_cache_synced" in text
        assert get("/v1/cni", data=b"{}")[0] == 501       # http.server: no do_POST here
        assert get("/nothing")[0] == 404
    finally:
        agent.terminate()
        assert agent.wait(timeout=30) == 0
