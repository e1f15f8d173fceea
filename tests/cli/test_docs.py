"""The reference ships in the repo (issue 12 item 8): generated pages up to date, every schema
property described, every command in the README's table, the LICENSE the metadata names."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import REPO


def _properties(node, path=""):
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}", prop
            yield from _properties(prop, f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from _properties(node[key], f"{path}[]")
        for name, definition in (node.get("$defs") or {}).items():
            yield from _properties(definition, f"#{name}")


def test_every_networkspec_schema_property_has_a_description():
    schema = json.loads((REPO / "schemas" / "networkspec.schema.json").read_text())
    properties = list(_properties(schema))
    assert len(properties) > 90
    assert [path for path, prop in properties if not prop.get("description")] == []


def test_the_generated_reference_is_up_to_date():
    result = subprocess.run([sys.executable, "docs/generate.py", "--check"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    commands = (REPO / "docs" / "commands.md").read_text()
    assert "## spiderpool delete" in commands and "| `plan` | 0 planned (with `--detailed-exitcode`" in commands


def test_the_readme_command_table_lists_every_command():
    from reconciler.cli import _parser

    listed = list(_parser()._subparsers._group_actions[0].choices)
    readme = (REPO / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `spiderpool ")]
    assert sorted(listed) == sorted({re.match(r"\| `spiderpool ([a-z-]+)", line).group(1) for line in table})
    assert "../shared/DESIGN.md" not in readme
    assert "need\nroot" in readme or "need root" in readme.replace("\n", " ")


def test_the_license_is_the_one_the_package_metadata_names():
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
