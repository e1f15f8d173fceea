"""`spiderpool install-cni`: standalone, isolated, atomic, idempotent plugin executables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cni import plugin, pluginwire
from cni.install import PLUGINS, InstallError, default_interpreter, install
from tests.conftest import REPO

IPAM_ONLY = {"spiderpool": PLUGINS["spiderpool"]}  # these tests look at one executable; PLUGINS also has the coordinator


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=REPO, capture_output=True, text=True)


def test_the_plugin_is_written_executable_with_an_isolated_shebang_of_the_base_interpreter(tmp_path):
    (written,) = install(tmp_path, plugins=IPAM_ONLY)
    assert written.path == tmp_path / "spiderpool" and written.changed
    assert written.path.stat().st_mode & 0o7777 == 0o755
    first_line = written.path.read_text().split("\n", 1)[0]
    assert first_line == f"#!{default_interpreter()} -IS"
    if sys.prefix != sys.base_prefix:  # in a virtualenv: the script must outlive it
        assert not default_interpreter().startswith(sys.prefix)


def test_the_installed_plugin_answers_version_with_no_pythonpath_and_no_project_on_disk(tmp_path):
    (written,) = install(tmp_path / "bin", plugins=IPAM_ONLY)
    proc = subprocess.run([str(written.path)], input=b'{"cniVersion": "1.0.0"}', env={"CNI_COMMAND": "VERSION"},
                          capture_output=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == b""
    assert json.loads(proc.stdout)["supportedVersions"][-1] == "1.1.0"


def test_the_script_carries_the_module_source_verbatim_with_the_shared_client_inlined(tmp_path):
    (written,) = install(tmp_path, plugins=IPAM_ONLY)
    namespace: dict = {}
    script = written.path.read_text()
    exec(compile(script.split("\nCODE = ", 1)[0], "installed", "exec"), namespace)  # up to SOURCE only
    marked = ("from cni.pluginwire import (CONTAINER_ID_PUNCTUATION, DEFAULT_SOCKET, MIN_VERSION, NOT_AVAILABLE, "
              "REQUIRED_ENV,\n                            SUPPORTED_VERSIONS, TRY_AGAIN_LATER, AgentError, agent_body, "
              "ask_agent, check_env,\n                            check_version, decode_config, error_json, run_commands, "
              "run_main, timeout_for,\n                            version_json)  # install-cni: inline\n")
    module = Path(plugin.__file__).read_text()
    assert marked in module
    before, after = module.split(marked)
    wire = Path(pluginwire.__file__).read_text()
    assert namespace["SOURCE"] == (before + "# ---- cni.pluginwire, inlined by install-cni\n" + wire
                                   + "# ---- end of cni.pluginwire\n" + after)


def test_an_interpreter_of_another_version_compiles_the_source_instead(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.implementation, "cache_tag", "cpython-0")  # CODE will not match at run time
    (written,) = install(tmp_path, plugins=IPAM_ONLY)
    assert "== 'cpython-0'" in written.path.read_text()
    proc = subprocess.run([str(written.path)], input=b"{}", env={"CNI_COMMAND": "VERSION"}, capture_output=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["cniVersion"] == "1.1.0"


def test_installing_again_leaves_an_identical_file_alone(tmp_path):
    (first,) = install(tmp_path, plugins=IPAM_ONLY)
    inode = first.path.stat().st_ino
    (second,) = install(tmp_path, plugins=IPAM_ONLY)
    assert not second.changed and second.path.stat().st_ino == inode


def test_a_recompiled_but_equal_program_counts_as_unchanged(tmp_path):
    (first,) = install(tmp_path, plugins=IPAM_ONLY)
    text = first.path.read_text()
    head, _, tail = text.rpartition("\nCODE = ")
    first.path.write_text(head + "\nCODE = b''\n" + tail.partition("\n")[2])  # marshal bytes may vary
    (second,) = install(tmp_path, plugins=IPAM_ONLY)
    assert not second.changed


def test_a_stale_file_is_replaced_by_rename_and_no_temp_files_remain(tmp_path):
    stale = tmp_path / "spiderpool"
    stale.write_text("#!/bin/sh\nexit 1\n")
    stale.chmod(0o700)
    inode = stale.stat().st_ino
    (written,) = install(tmp_path, plugins=IPAM_ONLY)
    assert written.changed and stale.stat().st_ino != inode and stale.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spiderpool"]


def test_a_second_plugin_is_one_more_table_entry(tmp_path):
    written = install(tmp_path, plugins={**IPAM_ONLY, "spiderpool-copy": "cni.plugin"})
    assert [w.path.name for w in written] == ["spiderpool", "spiderpool-copy"]


@pytest.mark.parametrize(("interpreter", "words"), [
    ("python3", "must be absolute"),
    ("/opt/my python/bin/python3", "no whitespace"),
    ("/" + "p" * 260, "longer than the kernel reads"),
])
def test_an_interpreter_the_kernel_cannot_run_from_a_shebang_is_refused(tmp_path, interpreter, words):
    with pytest.raises(InstallError, match=words):
        install(tmp_path, interpreter=interpreter)
    assert not list(tmp_path.iterdir())


def test_the_cli_prints_what_it_wrote_then_that_it_was_current(tmp_path):
    dest = tmp_path / "opt" / "cni" / "bin"
    first = cli("install-cni", "--dest", str(dest))
    names = list(PLUGINS)  # spiderpool, coordinator
    assert first.returncode == 0 and first.stdout == "".join(f"installed {dest / n}\n" for n in names)
    again = cli("install-cni", "--dest", str(dest))
    assert again.returncode == 0 and again.stdout == "".join(f"unchanged {dest / n}\n" for n in names)


def test_the_cli_reports_an_unwritable_destination_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("install-cni", "--dest", str(blocker / "bin"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("spiderpool: error: cannot install into ") and result.stderr.count("\n") == 1


def test_the_cli_writes_the_interpreter_it_is_given(tmp_path):
    assert cli("install-cni", "--dest", str(tmp_path), "--python", "/usr/bin/python3").returncode == 0
    assert (tmp_path / "spiderpool").read_text().startswith("#!/usr/bin/python3 -IS\n")
    assert os.access(tmp_path / "spiderpool", os.X_OK)
