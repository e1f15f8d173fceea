"""The chart: `helm lint` / `helm template` clean on Helm 3.17 and 4.1 over a values matrix, the
objects it renders are the ones the issue asks for, the schema refuses bad values, its CRDs are
the generator's, and the real kube-apiserver accepts every rendered object (server dry run)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

import schemas
from tests.conftest import with_crds
from tests.k8s_binaries import helm3, helm4

from .chart import CHART, MATRIX, NAMESPACE, by_kind, crd_files, helm, one, render, render_text, set_json

TOOLS = {"helm3.17": helm3, "helm4.1": helm4}
# A stand-in for the Prometheus Operator's ServiceMonitor CRD (not shipped here): the same
# group, version, kind and scope, accepting any spec, so the server checks what it can.
SERVICEMONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
             "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor",
                       "listKind": "ServiceMonitorList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture(params=list(TOOLS))
def tools(request):
    return TOOLS[request.param]()


@pytest.mark.parametrize("case", list(MATRIX))
def test_lint_is_clean(tools, case):
    done = helm(tools, "lint", str(CHART), "--strict", "--namespace", NAMESPACE, *set_json(MATRIX[case]))
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("case", list(MATRIX))
def test_both_helms_render_the_same_objects_without_a_warning(case):
    for tools in (helm3(), helm4()):
        done = helm(tools, "template", "netops", str(CHART), "--namespace", NAMESPACE, *set_json(MATRIX[case]))
        assert done.stderr == "", done.stderr
    assert render(helm3(), MATRIX[case]) == render(helm4(), MATRIX[case])


def test_the_default_objects():
    objects = render(helm4(), {})
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "DaemonSet", "Deployment", "PodDisruptionBudget",
                     "Role", "RoleBinding", "Service", "ServiceAccount"]
    assert not by_kind(objects, "ServiceMonitor")

    deployment = one(objects, "Deployment", "-controller")
    pod = deployment["spec"]["template"]["spec"]
    controller = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert controller["args"][0] == "controller" and "--leader-elect" in controller["args"]
    assert f"--lease-namespace={NAMESPACE}" in controller["args"]
    assert not any(a.startswith("--repo") for a in controller["args"]), "no git source by default"
    assert controller["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert controller["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert controller["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert controller["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {e["name"] for e in controller["env"]} >= {"POD_NAME", "POD_NAMESPACE"}

    daemonset = one(objects, "DaemonSet", "-agent")
    pod = daemonset["spec"]["template"]["spec"]
    agent, init = pod["containers"][0], pod["initContainers"][0]
    assert pod["hostNetwork"] is True and pod["hostPID"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert init["args"][:2] == ["install-cni", "--dest=/host/opt/cni/bin"]
    assert {"name": "cni-bin", "mountPath": "/host/opt/cni/bin"} in init["volumeMounts"]
    assert "--socket=/var/run/spidernet/spiderpool.sock" in agent["args"]
    assert {"name": "socket-dir", "hostPath": {"path": "/var/run/spidernet", "type": "DirectoryOrCreate"}} \
        in pod["volumes"]
    assert agent["securityContext"]["capabilities"] == {
        "drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"]}
    assert agent["securityContext"]["privileged"] is False
    assert {agent[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe", "startupProbe")} == \
        {"/healthz", "/readyz"}
    assert any(e["name"] == "NODE_NAME" and e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
               for e in agent["env"])

    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert {s["metadata"]["name"].rsplit("-", 1)[1] for s in by_kind(objects, "Service")} == {"controller", "agent"}


def test_the_git_source_and_its_secrets_reach_the_controller():
    objects = render(helm4(), MATRIX["git+servicemonitor+webhook"])
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--repo=ssh://git@git.example.com/netops/underlay.git" in args and "--self-heal" in args
    assert "--webhook-listen=0.0.0.0:9000" in args
    assert "--webhook-secret-file=/etc/spiderpool-gitops/webhook/secret" in args
    assert {"name": "webhook-secret", "secret": {"secretName": "hook", "defaultMode": 0o400}} in pod["volumes"]
    assert len(by_kind(objects, "ServiceMonitor")) == 2

    objects = render(helm4(), MATRIX["git"])
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert "--credentials-file=/etc/spiderpool-gitops/git/credentials" in pod["containers"][0]["args"]
    assert "--ref=main" in pod["containers"][0]["args"] and "--path=clusters/prod" in pod["containers"][0]["args"]

    assert not any(a.startswith("--ca-file") for a in pod["containers"][0]["args"])
    assert {v["name"] for v in pod["volumes"]} == {"tmp", "cache", "git-credentials"}

    single = render(helm4(), MATRIX["one-replica-no-election"])
    assert "--no-leader-elect" in one(single, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not by_kind(single, "PodDisruptionBudget"), "no PDB for a single replica: it would block every drain"
    assert not [r for r in by_kind(single, "Role") if r["metadata"]["name"].endswith("-lease")]


@pytest.mark.parametrize("case, volume, path", [
    ("git-https-private-ca", {"configMap": {"name": "internal-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
     "/etc/spiderpool-gitops/ca/ca.crt"),
    ("git-https-private-ca-secret", {"secret": {"secretName": "internal-ca",
                                                "items": [{"key": "trust-bundle.pem", "path": "trust-bundle.pem"}]}},
     "/etc/spiderpool-gitops/ca/trust-bundle.pem"),
])
def test_a_private_ca_bundle_is_mounted_alone_and_given_as_ca_file(case, volume, path):
    """Only the bundle's key is mounted (a cert-manager CA Secret also holds the CA's private key), read-only."""
    pod = one(render(helm4(), MATRIX[case]), "Deployment")["spec"]["template"]["spec"]
    controller = pod["containers"][0]
    assert f"--ca-file={path}" in controller["args"]
    mount = {"name": "git-ca", "mountPath": "/etc/spiderpool-gitops/ca", "readOnly": True}
    assert mount in controller["volumeMounts"]
    assert {"name": "git-ca", **volume} in pod["volumes"]
    notes = helm(helm4(), "install", "netops", str(CHART), "--dry-run=client", "--namespace", NAMESPACE,
                 *set_json(MATRIX[case])).stdout
    assert "TLS: the remote's certificate is verified with the CA in" in notes


def test_third_party_auto_pool_apps_are_an_opt_in_get_each():
    """By default the controller reads no third-party kind; each listed kind adds `get` on it, nothing wider."""
    def third_party_rules(objects):
        role = one(objects, "ClusterRole", "-controller")
        return [r for r in role["rules"] if not set(r["apiGroups"]) & {"", "apps", "batch", "spiderpool.spidernet.io",
                                                                          "gitops.spidernet.io", "k8s.cni.cncf.io",
                                                                          "crd.projectcalico.org", "projectcalico.org"}]

    assert third_party_rules(render(helm4(), {})) == []
    assert third_party_rules(render(helm4(), MATRIX["third-party-auto-pools"])) == [
        {"apiGroups": ["apps.kruise.io"], "resources": ["clonesets", "advancedstatefulsets"], "verbs": ["get"]},
        {"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get"]}]


@pytest.mark.parametrize("values, message", [
    ({"logLevel": "verbose"}, "logLevel"),
    ({"controller": {"replicas": 0}}, "replicas"),
    ({"agent": {"healthPort": 70000}}, "healthPort"),
    ({"agent": {"cniBinDir": "opt/cni/bin"}}, "cniBinDir"),
    ({"gitSource": {"enabeld": True}}, "enabeld"),
    ({"gitSource": {"enabled": True}}, "gitSource.enabled needs gitSource.repo"),
    ({"gitSource": {"enabled": True, "repo": "x", "webhook": {"enabled": True}}}, "webhook.existingSecret"),
    ({"gitSource": {"enabled": True, "repo": "x", "caBundle": {"configMap": "a", "secret": "b"}}},
     "gitSource.caBundle: set configMap or secret, not both"),
    ({"gitSource": {"caBundle": {"configMap": "a", "key": "../ca.crt"}}}, "match pattern '^[-._a-zA-Z0-9]+$'"),
    ({"gitSource": {"caBundle": {"insecure": True}}}, "insecure"),
    ({"controller": {"replicas": 2, "leaderElection": {"enabled": False}}}, "needs controller.leaderElection"),
    ({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}}, "needs metrics.service"),
    ({"autoPools": {"thirdPartyApps": [{"apiGroup": "*", "resources": ["clonesets"]}]}}, "apiGroup"),
    ({"autoPools": {"thirdPartyApps": [{"apiGroup": "apps", "resources": ["deployments"]}]}}, "apiGroup"),
    ({"autoPools": {"thirdPartyApps": [{"apiGroup": "apps.kruise.io", "resources": ["*"]}]}}, "resources"),
    ({"autoPools": {"thirdPartyApps": [{"apiGroup": "apps.kruise.io"}]}}, "resources"),
])
def test_bad_values_are_refused_naming_the_value(tools, values, message):
    done = helm(tools, "template", "x", str(CHART), *set_json(values), check=False)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_the_charts_crds_are_the_generators():
    assert crd_files(CHART / "crds") == crd_files(schemas.SCHEMA_DIR / "crds")


def test_the_real_api_server_accepts_every_rendered_object(real_cluster, tmp_path):
    """`kubectl apply --dry-run=server` of each values case (CRDs installed as the chart's crds/ would be)."""
    with_crds(real_cluster)
    real_cluster.create(SERVICEMONITOR_CRD)
    real_cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    try:
        for case, values in MATRIX.items():
            manifest = tmp_path / f"{case}.yaml"
            manifest.write_text(render_text(helm4(), values))
            done = subprocess.run([str(helm4().kubectl), "--kubeconfig", str(real_cluster.kubeconfig), "apply",
                                   "--dry-run=server", "-f", str(manifest)], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{case}:\n{done.stdout}\n{done.stderr}"
            applied = [line for line in done.stdout.splitlines() if line.endswith("(server dry run)")]
            expected = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc]
            assert len(applied) == len(expected), (case, done.stdout)
    finally:
        real_cluster.delete("customresourcedefinitions.apiextensions.k8s.io", "servicemonitors.monitoring.coreos.com")
        for o in render(helm4(), {}):
            if o["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                real_cluster.delete(f"{o['kind'].lower()}s.rbac.authorization.k8s.io", o["metadata"]["name"])
