"""The import rules of `.importlinter` hold: `lint-imports` passes (so CI, which runs pytest, checks them).

The contracts: reconciler > agent > (kubeclient | coordinator) > cni; cni and coordinator
import no Kubernetes client; only kubeclient.client imports the kubernetes library and only
coordinator.apply imports pyroute2; the coordinator speaks CNI, not IPAM; the pure cores
import no adapters.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: pip install -e '.[test]' (import-linter)"
    return found


def test_every_import_contract_is_kept():
    proc = subprocess.run([lint_imports(), "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
