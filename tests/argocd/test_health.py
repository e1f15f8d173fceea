"""Every health_test.yaml case of examples/argocd/resource_customizations, two ways:

- through a Lua 5.1 VM (lupa) with Argo CD's semantics (tests/argocd/luahealth.py): what
  Argo CD's util/lua/health_test.go asserts, without the Go toolchain;
- through Argo CD's own code: `argocd admin settings resource-overrides health FILE
  --argocd-cm-path examples/argocd/argocd-cm-health.yaml` of the Argo CD built by
  `python -m tests.argocd.build` (skipped, saying so, where it is not built).

The testdata are `kubectl get -o yaml` of objects made on the real kube-apiserver by
`python -m tests.argocd.testdata`; the expectations were written by hand.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.argocd import build
from tests.argocd.luahealth import ARGOCD_CM, CUSTOMIZATIONS, argocd_cm, cases, health, kind_dirs, resource_health

CASES = cases()
KINDS = ("spiderpool.spidernet.io/SpiderIPPool", "spiderpool.spidernet.io/SpiderSubnet",
         "spiderpool.spidernet.io/SpiderCoordinator", "gitops.spidernet.io/NetworkSync",
         "gitops.spidernet.io/NodeReport")


def test_every_kind_has_a_check_tests_and_only_tested_testdata():
    assert [str(d.relative_to(CUSTOMIZATIONS)) for d in kind_dirs()] == sorted(KINDS)
    for directory in kind_dirs():
        used = {c.input_path for c in CASES if c.kind_dir == directory}
        present = {f"testdata/{p.name}" for p in (directory / "testdata").glob("*.yaml")}
        assert used == present, directory


def test_each_kind_covers_its_states():
    seen = {}
    for case in CASES:
        seen.setdefault(str(case.kind_dir.relative_to(CUSTOMIZATIONS)), set()).add(case.expected["status"])
    assert seen == {
        "spiderpool.spidernet.io/SpiderIPPool": {"Healthy", "Progressing", "Degraded"},
        "spiderpool.spidernet.io/SpiderSubnet": {"Healthy", "Progressing"},
        "spiderpool.spidernet.io/SpiderCoordinator": {"Healthy", "Degraded"},
        "gitops.spidernet.io/NetworkSync": {"Healthy", "Progressing", "Degraded"},
        "gitops.spidernet.io/NodeReport": {"Healthy", "Degraded"},
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_lua_vm(case):
    obj = yaml.safe_load((case.kind_dir / case.input_path).read_text())
    assert health((case.kind_dir / "health.lua").read_text(), obj) == case.expected


def test_the_checks_use_no_library_argo_cd_leaves_closed():
    """Argo CD opens only base, table and a safe os unless useOpenLibs is set: a script that
    reached for string.format would fail there (the VM above has the same gap)."""
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"}}
    with pytest.raises(Exception, match="string"):
        health('return {status = string.format("%s", "Healthy")}', obj)


def test_the_argocd_cm_patch_carries_the_current_scripts():
    assert ARGOCD_CM.read_text() == argocd_cm(), "run `python -m tests.argocd.luahealth`"


ARGOCD = build.cached()


@pytest.mark.skipif(ARGOCD is None, reason="Argo CD is not built: run `python -m tests.argocd.build`")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_argocd_itself(case):
    proc = subprocess.run([str(ARGOCD), "admin", "settings", "resource-overrides", "health",
                           str(case.kind_dir / case.input_path), "--argocd-cm-path", str(ARGOCD_CM)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    obj = yaml.safe_load((case.kind_dir / case.input_path).read_text())
    shown = resource_health(case.expected, obj)  # a terminating object shows its deletionMessage
    expected = f"STATUS: {shown['status']}\n" + (f"MESSAGE: {shown['message']}\n" if "message" in shown else "")
    assert proc.stdout == expected
