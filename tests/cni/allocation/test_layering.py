"""The engine is pure: no Kubernetes client, no I/O, no clock; only the standard library,
netaddr and the project's IP range arithmetic."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import cni.allocation

PACKAGE = Path(cni.allocation.__file__).parent
ALLOWED = {"netaddr", "cni.ipranges", "__future__"}
FORBIDDEN_STDLIB = {"os", "socket", "subprocess", "time", "threading", "asyncio", "http", "urllib", "random"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module)
    return found


def test_the_allocation_engine_imports_nothing_that_does_io():
    for path in sorted(PACKAGE.glob("*.py")):
        for name in imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN_STDLIB, f"{path.name} imports {name}"
            assert name in ALLOWED or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_nothing_in_the_engine_reads_the_clock():
    for path in sorted(PACKAGE.glob("*.py")):
        text = path.read_text()
        assert ".now(" not in text and "utcnow" not in text and "today(" not in text, path.name


def test_no_name_the_engine_exports_is_also_a_module_of_it():
    """The package loads its exports on first use; a submodule of the same name would shadow one."""
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert not modules & set(cni.allocation.__all__)
