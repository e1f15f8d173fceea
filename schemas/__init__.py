"""The project's data contracts: JSON Schemas and CRD manifests, shipped with the code."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load_json(name: str) -> Any:
    """A schema file of this directory, parsed (cached: treat it as read-only)."""
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def crd_paths() -> list[Path]:
    """The CRD manifests this project installs, in a stable order."""
    return sorted((SCHEMA_DIR / "crds").glob("*.yaml"))
