"""Shared fixtures: repo paths and a way to write small specs into a temp dir."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

HEADER = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: {name}
"""


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(body, name='demo', file='spec.yaml') -> path of a file holding a NetworkSpec.

    `body` is the YAML under the header (starting with `spec:`), dedented.
    """

    def write(body: str, *, name: str = "demo", file: str = "spec.yaml", raw: bool = False) -> Path:
        path = tmp_path / file
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(body)
        path.write_text(text if raw else HEADER.format(name=name) + text)
        return path

    return write
