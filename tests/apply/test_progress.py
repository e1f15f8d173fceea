"""Progress as a user watches it (issue 12 item 2): a line per object as it is written, not all
at the end; a final summary; the same for install-crds. Through the real CLI, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

POOLS = 12


def _popen(server, *args):
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig)}
    return subprocess.Popen([sys.executable, "-m", "reconciler", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.testserver
def test_apply_prints_each_object_as_it_is_written_then_a_summary(cluster, write_spec):
    pools = "".join(f"    - {{name: p{i}, subnet: 10.6.0.0/16, ips: [10.6.{i}.1], gateway: 10.6.255.254}}\n"
                    for i in range(POOLS))
    spec = write_spec("spec:\n  cluster: {ipVersions: [4]}\n  ippools:\n" + pools)
    cluster.faults.configure(slow_rate=1.0, slow_seconds=0.25, verbs={"patch"})
    proc = _popen(cluster, "apply", spec, "--concurrency", "1")
    first = proc.stdout.readline()
    # the first object's line is out while the apply is still writing the others
    assert first == "  + SpiderIPPool p0 created\n"
    assert proc.poll() is None and cluster.stats.writes < POOLS
    rest, err = proc.communicate(timeout=120)
    lines = (first + rest).splitlines()
    assert proc.returncode == 0, err
    assert lines[:-1] == [f"  + SpiderIPPool p{i} created" for i in sorted(range(POOLS), key=str)]
    assert lines[-1] == f"Apply complete: {POOLS} created."


@pytest.mark.testserver
def test_install_crds_reports_each_crd_as_it_goes_and_a_summary(kubeapi):
    kubeapi.faults.configure(slow_rate=1.0, slow_seconds=0.2, verbs={"patch"})
    proc = _popen(kubeapi, "install-crds")
    first = proc.stderr.readline()
    assert first.startswith("installed CustomResourceDefinition ") and proc.poll() is None
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [first.rstrip("\n")] + err.splitlines()
    installed = [line for line in lines if line.startswith("installed CustomResourceDefinition ")]
    assert len(installed) >= 5 and lines[-1].startswith("waiting until")
    assert out == f"{len(installed)} CustomResourceDefinitions: {len(installed)} installed; all Established.\n"
    # a second run says what it found
    again = _popen(kubeapi, "install-crds")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and all(line.startswith(("unchanged ", "updated ", "waiting"))
                                         for line in err.splitlines()), err
