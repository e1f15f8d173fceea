"""Errors and outputs that point the right way (issue 12 item 7), through the real CLI.

Each case was reproduced as a new user meets it: what the message said, and what it must
say instead (what to do next, not the internals)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.apply.conftest import cluster, spec_copy  # noqa: F401  (fixtures)
from tests.apply.test_apply import allocate, edit
from tests.conftest import EXAMPLES, REPO

CROSS_ZONE = EXAMPLES / "cross-zone-pools"


def run(*args, env=None, kubeconfig=None):
    env = dict(env if env is not None else os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=120)


def no_cluster_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    return env


def one_error_line(result) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.stderr.splitlines()[-1]


def test_plan_without_any_cluster_access_suggests_kubeconfig_or_offline(tmp_path):
    line = one_error_line(run("plan", CROSS_ZONE, env=no_cluster_env(tmp_path)))
    assert "no kubeconfig" in line and "--kubeconfig" in line and "--offline" in line
    assert "Service host/port" not in line


def test_a_missing_kubeconfig_file_is_named(tmp_path):
    line = one_error_line(run("status", kubeconfig=tmp_path / "nope.yaml"))
    assert line == f"spiderpool: error: the kubeconfig file {tmp_path / 'nope.yaml'} does not exist " \
                   "(--kubeconfig, else $KUBECONFIG)"


def test_connection_refused_is_one_clear_line_without_waiting_out_the_retry_budget(unreachable_kubeconfig):
    kubeconfig = unreachable_kubeconfig
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]  # http://127.0.0.1:PORT
    result = run("--retry-budget", "600", "apply", CROSS_ZONE, kubeconfig=kubeconfig)  # would be 10 min of retries
    line = one_error_line(result)
    assert "cannot reach the API server: connection refused" in line
    assert f"is {server} the right API server, and is it running?" in line
    assert "MaxRetryError" not in result.stderr and "NewConnectionError" not in result.stderr


@pytest.mark.testserver
def test_a_missing_calico_crd_says_calico_not_install_crds(kubeapi):
    assert run("install-crds", kubeconfig=kubeapi.kubeconfig).returncode == 0
    line = one_error_line(run("apply", EXAMPLES / "calico-bgp-fixed-ip", kubeconfig=kubeapi.kubeconfig))
    assert "does not serve Calico's IPPool" in line and "install Calico" in line
    assert "spiderpool install-crds does not install it" in line


@pytest.mark.testserver
def test_ipam_pools_without_the_crds_says_to_install_them(kubeapi):
    line = one_error_line(run("ipam", "pools", kubeconfig=kubeapi.kubeconfig))
    assert "does not serve the Spiderpool CRDs" in line and "spiderpool install-crds" in line


def test_a_plan_with_conflicts_does_not_open_with_no_changes(cluster, spec_copy):
    assert run("apply", CROSS_ZONE, kubeconfig=cluster.kubeconfig).returncode == 0
    other = spec_copy("cross-zone-pools")
    edit(other / "spec.yaml", "name: cross-zone", "name: someone-else")
    result = run("plan", other, kubeconfig=cluster.kubeconfig)
    assert result.returncode == 1
    assert "No changes" not in result.stdout
    assert "Blocked: 6 object(s) marked ! above would stop apply." in result.stdout


def test_the_applied_digest_never_shows_in_a_diff_and_a_pool_in_use_shows_as_drained(cluster, spec_copy):
    from tests.kubeapi.fixtures import api_client_for

    spec = spec_copy("cross-zone-pools")
    assert run("apply", spec, kubeconfig=cluster.kubeconfig).returncode == 0
    allocate(api_client_for(cluster), "test-ippool-7", ["10.7.168.61"])
    edit(spec / "spec.yaml", "ips: [10.6.168.60-10.6.168.69]\n      gateway: 10.6.0.1\n      zones",
         "ips: [10.6.168.60-10.6.168.69]\n      gateway: 10.6.0.254\n      zones")
    text = (spec / "spec.yaml").read_text()
    start = text.index("    - name: test-ippool-7")
    end = text.index("  reservedIPs:", start) if "  reservedIPs:" in text[start:] else len(text)
    (spec / "spec.yaml").write_text(text[:start] + text[end:])
    edit(spec / "spec.yaml", "ipv4: [test-ippool-6, test-ippool-7]", "ipv4: [test-ippool-6]")

    result = run("plan", spec, kubeconfig=cluster.kubeconfig)
    assert result.returncode == 0, result.stderr
    assert "applied-digest" not in result.stdout
    assert "~ SpiderIPPool test-ippool-6 will be updated in place" in result.stdout
    assert ("- SpiderIPPool test-ippool-7 will be DRAINED, then deleted: 1 IP(s) still allocated: disabled now, "
            "deleted by a later apply once they are released") in result.stdout
    assert "(1 drained first)." in result.stdout

    dry = run("apply", spec, "--dry-run", kubeconfig=cluster.kubeconfig)
    assert dry.returncode == 0, dry.stderr
    assert "SpiderIPPool test-ippool-7 would be drained" in dry.stdout
    assert dry.stdout.splitlines()[-1].startswith("Dry run complete, nothing was stored: ")
