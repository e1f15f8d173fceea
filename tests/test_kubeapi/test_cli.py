"""`python -m tests.kubeapi` serves until signalled, announcing its URL and kubeconfig."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flags, scheme", [([], "http"), (["--tls", "--token", "s3cret"], "https")])
def test_the_module_serves_until_terminated(tmp_path, flags, scheme):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen([sys.executable, "-m", "tests.kubeapi", "--port", "0", "--kubeconfig",
                                str(kubeconfig), *flags], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the server did not announce its URL"
        url = process.stdout.readline().strip()
        assert url.startswith(f"{scheme}://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            assert "default" in {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        finally:
            api.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
