"""Planning is pure (standard library only); the plugin as installed is stdlib-only.

That only `coordinator/apply.py` imports pyroute2 is an import-linter contract (`.importlinter`)."""

from __future__ import annotations

import ast
from pathlib import Path

import coordinator
from cni.install import bundled_source

PACKAGE = Path(coordinator.__file__).parent


def imported(path: Path, *, source: str | None = None) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add("." + (node.module or ""))
    return names


def test_plan_and_config_are_pure():
    assert imported(PACKAGE / "config.py") <= {"__future__", "ipaddress", "dataclasses", "typing"}
    assert imported(PACKAGE / "plan.py") <= {"__future__", "hashlib", "ipaddress", "dataclasses", ".config"}


def test_the_plugin_imports_only_os_sys_time_and_c_cores():
    """As installed: with cni/pluginwire.py inlined in place of its marked import."""
    source = bundled_source("coordinator.plugin")
    assert imported(PACKAGE / "plugin.py", source=source) <= {"os", "sys", "time", "_json", "_socket", "json"}
