"""The real kubectl (1.31 and 1.33) against the test server, over HTTP and HTTPS."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.k8s_binaries import helm3, helm4
from tests.kubeapi import KubeAPIServer

from .conftest import IPPOOL_CRD

TOOLSETS = {"kubectl-1.31": helm3, "kubectl-1.33": helm4}

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
  labels:
    app: demo
data:
  key: "{value}"
"""

POOL = """\
apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: {name}
spec:
  ipVersion: {version}
  subnet: 10.6.0.0/16
  ips: [10.6.168.60-10.6.168.69]
  gateway: 10.6.0.1
"""


class Kubectl:
    def __init__(self, binary: Path, server: KubeAPIServer, home: Path):
        self.binary, self.server = binary, server
        self.env = {**os.environ, "HOME": str(home), "KUBECACHEDIR": str(home / "cache")}

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), "--kubeconfig", str(self.server.kubeconfig), *args]

    def __call__(self, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(*args), input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=30)
        if ok and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done


@pytest.fixture(params=sorted(TOOLSETS))
def toolset(request):
    return TOOLSETS[request.param]()


@pytest.fixture
def kubectl(toolset, kubeapi, tmp_path) -> Kubectl:
    return Kubectl(toolset.kubectl, kubeapi, tmp_path)


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_client_side_apply_creates_then_leaves_unchanged_objects_alone(kubectl, kubeapi):
    created = kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(value=1))
    assert (created.stdout.strip(), created.stderr) == ("configmap/demo created", "")
    kubeapi.stats.reset()
    assert kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(value=1)).stdout.strip() == "configmap/demo unchanged"
    assert kubeapi.stats.writes == 0
    configured = kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(value=2))
    assert (configured.stdout.strip(), configured.stderr) == ("configmap/demo configured", "")
    assert kubeapi.get("configmaps", "demo", "default")["data"] == {"key": "2"}


def test_server_side_apply_takes_over_from_client_side_apply(kubectl, kubeapi):
    kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(value=1))
    out = kubectl("apply", "--server-side", "-f", "-", stdin=CONFIGMAP.format(value=2)).stdout
    assert out.strip() == "configmap/demo serverside-applied"
    stored = kubeapi.get("configmaps", "demo", "default")
    assert stored["data"] == {"key": "2"}
    assert "kubectl" in {m["manager"] for m in stored["metadata"]["managedFields"]}


def test_server_side_apply_conflicts_between_field_managers(kubectl):
    kubectl("apply", "--server-side", "-f", "-", stdin=CONFIGMAP.format(value=1))
    clash = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", stdin=CONFIGMAP.format(value=2),
                    ok=False)
    assert clash.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.key' in clash.stderr
    forced = kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
                     stdin=CONFIGMAP.format(value=2))
    assert forced.returncode == 0


def test_get_json_returns_the_stored_object(kubectl, kubeapi):
    kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(value=1))
    shown = json.loads(kubectl("get", "configmap", "demo", "-o", "json").stdout)
    stored = kubeapi.get("configmaps", "demo", "default")
    assert shown["metadata"]["uid"] == stored["metadata"]["uid"]
    assert shown["data"] == {"key": "1"}
    listed = json.loads(kubectl("get", "cm", "-l", "app=demo", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["demo"]


def test_crds_print_their_columns_and_answer_to_short_names(kubectl):
    assert "created" in kubectl("apply", "-f", str(IPPOOL_CRD)).stdout
    kubectl("wait", "--for=condition=Established", "crd/spiderippools.spiderpool.spidernet.io", "--timeout=10s")
    kubectl("apply", "-f", "-", stdin=POOL.format(name="pool-a", version=4))
    assert table(kubectl("get", "sp").stdout) == [
        ["NAME", "VERSION", "SUBNET", "ALLOCATED-IP-COUNT", "TOTAL-IP-COUNT", "DEFAULT"],
        ["pool-a", "4", "10.6.0.0/16", "false"]]
    wide = table(kubectl("get", "spiderippools.spiderpool.spidernet.io", "-o", "wide").stdout)
    assert wide[0][-4:] == ["DISABLE", "NODENAME", "MULTUSNAME", "APP-NAMESPACE"]
    assert table(kubectl("get", "spiderpool", "-o", "name").stdout) == [
        ["spiderippool.spiderpool.spidernet.io/pool-a"]]


def test_schema_violations_reach_the_user(kubectl):
    kubectl("apply", "-f", str(IPPOOL_CRD))
    bad = kubectl("apply", "-f", "-", stdin=POOL.format(name="bad", version=5), ok=False)
    assert bad.returncode != 0
    assert 'spec.ipVersion: Unsupported value: 5: supported values: "4", "6"' in bad.stderr
    unknown = kubectl("apply", "-f", "-", stdin=POOL.format(name="odd", version=4) + "  bogus: 1\n", ok=False)
    assert 'unknown field "spec.bogus"' in unknown.stderr


def test_delete_removes_objects(kubectl, kubeapi):
    kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(value=1))
    assert kubectl("delete", "configmap", "demo").stdout.strip() == 'configmap "demo" deleted'
    missing = kubectl("get", "configmap", "demo", ok=False)
    assert 'configmaps "demo" not found' in missing.stderr
    assert kubeapi.get("configmaps", "demo", "default") is None


def test_get_watch_prints_objects_created_meanwhile(kubectl, kube_client):
    lines: queue.Queue[str] = queue.Queue()
    process = subprocess.Popen(kubectl.command("get", "configmaps", "--watch", "--output-watch-events"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=kubectl.env)
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        time.sleep(0.5)
        client.CoreV1Api(kube_client).create_namespaced_config_map("default", {"metadata": {"name": "seen"}})
        deadline, seen = time.monotonic() + 10, []
        while time.monotonic() < deadline and not any("seen" in line for line in seen):
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                pass
        assert any(line.split()[:2] == ["ADDED", "seen"] for line in seen), seen
    finally:
        process.kill()
        process.wait(5)


def test_kubectl_generators_send_protobuf_and_it_is_understood(kubectl, kubeapi):
    kubectl("create", "namespace", "team")
    kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", "team")
    kubectl("create", "secret", "generic", "token", "--from-literal=t=s3cret", "-n", "team")
    assert kubeapi.get("configmaps", "settings", "team")["data"] == {"a": "b"}
    assert kubeapi.get("secrets", "token", "team")["data"] == {"t": "czNjcmV0"}
    assert kubeapi.get("namespaces", "team")["status"]["phase"] == "Active"


@pytest.mark.parametrize("name", sorted(TOOLSETS))
def test_https_with_a_ca_and_token(name, kubeapi_tls, tmp_path):
    kubectl = Kubectl(TOOLSETS[name]().kubectl, kubeapi_tls, tmp_path)
    assert kubeapi_tls.url.startswith("https://")
    assert "default" in kubectl("get", "namespaces").stdout
    kubectl("apply", "--server-side", "-f", "-", stdin=CONFIGMAP.format(value=1))
    wrong = kubectl("get", "ns", f"--token=not-{kubeapi_tls.token}", ok=False)
    assert "Unauthorized" in wrong.stderr or "must be logged in" in wrong.stderr


@pytest.mark.parametrize("name", sorted(TOOLSETS))
def test_helm_release_storage_works(name, kubeapi, tmp_path):
    tools = TOOLSETS[name]()
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: '{{ .Release.Name }}-cm'\ndata: {a: '1'}\n")
    env = {**os.environ, "HOME": str(tmp_path), "HELM_CACHE_HOME": str(tmp_path / "hc"),
           "HELM_CONFIG_HOME": str(tmp_path / "hcfg"), "HELM_DATA_HOME": str(tmp_path / "hd"),
           "KUBECONFIG": str(kubeapi.kubeconfig)}

    def helm(*args: str) -> str:
        done = subprocess.run([str(tools.helm), *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    helm("install", "rel", str(chart))
    helm("upgrade", "rel", str(chart))
    assert "deployed" in helm("list")
    assert kubeapi.get("configmaps", "rel-cm", "default")["data"] == {"a": "1"}
    helm("uninstall", "rel")
    assert kubeapi.list("secrets", "default") == []
