"""Shell completion (issue 12 item 8): `spiderpool completion bash|zsh` prints a script generated
from the argparse tree; bash loads it, and it completes commands, flags, choices and paths."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def script(shell: str) -> str:
    result = subprocess.run([sys.executable, "-m", "reconciler", "completion", shell], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return result.stdout


def complete(words: list[str], tmp_path) -> list[str]:
    """What bash offers for `words` (the last one being completed), with the script sourced."""
    path = tmp_path / "spiderpool.bash"
    path.write_text(script("bash"))
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (f"source {path}; complete -p spiderpool; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
               "_spiderpool; printf '%s\\n' \"${COMPREPLY[@]}\"")
    result = subprocess.run(["bash", "--norc", "-c", program], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "complete -o default -F _spiderpool spiderpool"
    return [line for line in lines[1:] if line]


@pytest.mark.parametrize("words, offered", [
    (["spiderpool", ""], ["agent", "apply", "argocd-cmp", "completion", "controller", "delete", "drift", "install-cni",
                          "install-crds", "ipam", "plan", "render", "status", "validate", "watch"]),
    (["spiderpool", "pl"], ["plan"]),
    (["spiderpool", "plan", "--st"], ["--state"]),
    (["spiderpool", "plan", "--detailed-exitcode", "-o", ""], ["text", "json"]),
    (["spiderpool", "--kubeconfig", "/tmp/k", "ipam", ""], ["check", "endpoints", "pools", "subnets"]),
    (["spiderpool", "ipam", "endpoints", "--name"], ["--namespace"]),
    (["spiderpool", "apply", "--self"], ["--self-heal"]),
    (["spiderpool", "completion", ""], ["bash", "zsh"]),
    (["spiderpool", "validate", "examples/cross"], ["examples/cross-zone-pools"]),
    (["spiderpool", "plan", "--state", "examples/cross"], ["examples/cross-zone-pools"]),
])
def test_bash_completes_commands_flags_choices_and_paths(words, offered, tmp_path):
    assert complete(words, tmp_path) == offered


def test_every_flag_of_every_command_is_offered(tmp_path):
    from reconciler.cli import _parser

    offered = set(complete(["spiderpool", "watch", "--"], tmp_path))
    watch = _parser()._subparsers._group_actions[0].choices["watch"]
    flags = {s for a in watch._actions for s in a.option_strings if s.startswith("--")}
    assert flags == offered


def test_zsh_gets_the_same_completion_through_bashcompinit():
    text = script("zsh")
    assert text.startswith("#compdef spiderpool\n") and "bashcompinit" in text and "_spiderpool()" in text


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_loads_the_script(tmp_path):
    path = tmp_path / "_spiderpool"
    path.write_text(script("zsh"))
    result = subprocess.run(["zsh", "-f", "-c", f"source {path}; whence -w _spiderpool"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "function" in result.stdout, result.stderr
