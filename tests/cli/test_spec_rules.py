"""Specs that validate but could not work (issue 12 item 5), through the real CLI."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import REPO


def run(*args):
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_cluster_cidrs_are_rendered_onto_the_coordinator_even_without_a_coordinator_section(write_spec):
    spec = write_spec("""\
        spec:
          cluster: {ipVersions: [4], podCIDRs: [10.233.64.0/18], serviceCIDRs: [10.233.0.0/18]}
          ippools:
            - {name: p, subnet: 10.6.0.0/16, ips: [10.6.0.10], gateway: 10.6.0.1}
        """)
    result = run("render", spec)
    assert result.returncode == 0, result.stderr
    [coordinator] = [o for o in yaml.safe_load_all(result.stdout) if o["kind"] == "SpiderCoordinator"]
    assert coordinator["metadata"]["name"] == "default" and coordinator["spec"] == {}
    annotations = coordinator["metadata"]["annotations"]
    assert annotations["gitops.spidernet.io/pod-cidrs"] == "10.233.64.0/18"
    assert annotations["gitops.spidernet.io/service-cidrs"] == "10.233.0.0/18"
    assert annotations["gitops.spidernet.io/source"] == "spec.yaml:6"  # the cluster: line


def test_without_cluster_cidrs_or_a_coordinator_section_no_coordinator_is_rendered(write_spec):
    spec = write_spec("spec:\n  ippools:\n    - {name: p, subnet: 10.6.0.0/16, ips: [10.6.0.10]}\n")
    assert "SpiderCoordinator" not in run("render", spec).stdout


def test_macvlan_and_ipvlan_may_share_a_master_on_different_vlans(write_spec):
    spec = write_spec("""\
        spec:
          networks:
            - {name: a, type: macvlan, master: ens192}
            - {name: b, type: ipvlan, master: ens192, vlanID: 20}
            - {name: c, type: macvlan, master: ens192}
        """)
    result = run("validate", spec)
    assert result.returncode == 0, result.stderr
