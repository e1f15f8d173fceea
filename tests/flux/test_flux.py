"""The Flux flow: examples/flux, judged with Flux's own code where it can run here.

- healthCheckExprs and kstatus: tests/flux/fluxdriver links fluxcd/pkg/runtime/cel (the evaluator
  of spec.healthCheckExprs) and fluxcd/cli-utils kstatus (spec.wait for every other kind), built
  by `python -m tests.flux.build`; it judges the same real-cluster testdata the Argo CD checks use.
- render-and-commit.sh: run on a real git repo; an invalid or empty spec never reaches the branch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.argocd.luahealth import CUSTOMIZATIONS
from tests.conftest import EXAMPLES
from tests.flux import build

FLUX = EXAMPLES / "flux"
HEALTH = build.cached()
needs_flux = pytest.mark.skipif(HEALTH is None, reason="flux-health is not built: run `python -m tests.flux.build`")

# testdata (as in examples/argocd/resource_customizations) -> what Flux's wait makes of it:
# Current / InProgress / Failed, or Error (Flux cannot evaluate it yet and keeps waiting)
EXPECTED = {
    "spiderpool.spidernet.io/SpiderIPPool/new": ("cel", "Current"),  # apply writes its counts at once
    "spiderpool.spidernet.io/SpiderIPPool/unused": ("cel", "Current"),
    "spiderpool.spidernet.io/SpiderIPPool/in-use": ("cel", "Current"),
    "spiderpool.spidernet.io/SpiderIPPool/exhausted": ("cel", "Failed"),
    "spiderpool.spidernet.io/SpiderIPPool/draining": ("cel", "InProgress"),
    "spiderpool.spidernet.io/SpiderIPPool/terminating": ("cel", "InProgress"),
    "spiderpool.spidernet.io/SpiderSubnet/healthy": ("cel", "Current"),
    "spiderpool.spidernet.io/SpiderSubnet/terminating": ("cel", "InProgress"),
    "spiderpool.spidernet.io/SpiderCoordinator/synced": ("cel", "Current"),
    "spiderpool.spidernet.io/SpiderCoordinator/notready": ("cel", "Failed"),
    # NetworkSync needs no expressions: kstatus reads its conditions
    "gitops.spidernet.io/NetworkSync/ready": ("kstatus", "Current"),
    "gitops.spidernet.io/NetworkSync/draining": ("kstatus", "Current"),
    "gitops.spidernet.io/NetworkSync/drifted": ("kstatus", "Failed"),
    "gitops.spidernet.io/NetworkSync/terminating": ("kstatus", "InProgress"),
    "gitops.spidernet.io/NetworkSync/stalled": ("kstatus", "Failed"),
    "gitops.spidernet.io/NetworkSync/not-observed": ("kstatus", "InProgress"),
}


def _exprs(path: Path) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Kustomization"]
    return docs[0]["spec"]["healthCheckExprs"]


def _judge(exprs: list[dict], objects: list[dict]) -> list[dict]:
    proc = subprocess.run([str(HEALTH)], input=json.dumps({"exprs": exprs, "objects": objects}),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_flux
def test_every_testdata_object_under_flux_wait():
    names = sorted(EXPECTED)
    objects = [yaml.safe_load((CUSTOMIZATIONS / (n.rsplit("/", 1)[0]) / "testdata" / f"{n.rsplit('/', 1)[1]}.yaml")
                              .read_text()) for n in names]
    verdicts = _judge(_exprs(FLUX / "kustomization.yaml"), objects)
    got = {n: (EXPECTED[n][0], v["cel"] if EXPECTED[n][0] == "cel" else v["kstatus"]) for n, v in zip(names, verdicts)}
    assert got == EXPECTED
    # a pool just applied already carries its counts (apply writes them), so Flux's expressions
    # never meet one of ours without a status
    new = objects[names.index("spiderpool.spidernet.io/SpiderIPPool/new")]
    assert new["status"]["totalIPCount"] == 10 and new["status"]["allocatedIPCount"] == 0


@needs_flux
def test_every_testdata_kind_flux_applies_is_covered():
    covered = {n.rsplit("/", 1)[0] for n in EXPECTED}
    present = {f"{p.parent.parent.relative_to(CUSTOMIZATIONS)}" for p in CUSTOMIZATIONS.glob("*/*/testdata/*.yaml")}
    assert present - covered == {"gitops.spidernet.io/NodeReport"}  # written by agents, never applied by Flux
    for kind in covered:
        files = {p.stem for p in (CUSTOMIZATIONS / kind / "testdata").glob("*.yaml")}
        assert {n.rsplit("/", 1)[1] for n in EXPECTED if n.startswith(kind + "/")} == files


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def test_render_and_commit_keeps_a_branch_of_rendered_objects_only(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "calico-overlay-macvlan", repo / "clusters" / "prod" / "network")
    _git(tmp_path, "init", "-q", "-b", "main", str(repo))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "spec")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@example.com"}
    script = str(FLUX / "render-and-commit.sh")

    def run():
        return subprocess.run([script, "clusters/prod/network", "clusters/prod/network.yaml"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=60)

    assert run().returncode == 0
    assert _git(repo, "ls-tree", "-r", "--name-only", "rendered").split() == ["clusters/prod/network.yaml"]
    kinds = [d["kind"] for d in yaml.safe_load_all(_git(repo, "show", "rendered:clusters/prod/network.yaml"))]
    assert kinds == ["SpiderIPPool", "SpiderCoordinator", "NetworkAttachmentDefinition"]
    before = _git(repo, "rev-parse", "rendered")

    # main's spec now disables its only pool: render refuses it, the branch Flux follows stays as it was
    net = repo / "clusters" / "prod" / "network" / "network.yaml"
    net.write_text(net.read_text().replace("      gateway: 10.6.0.1\n", "      gateway: 10.6.0.1\n      disable: true\n", 1))
    _git(repo, "commit", "-q", "-am", "disable the pool")
    failed = run()
    assert failed.returncode == 1
    assert "spec.ippools[0].disable: every pool of the spec is disabled" in failed.stderr
    assert _git(repo, "rev-parse", "rendered") == before
