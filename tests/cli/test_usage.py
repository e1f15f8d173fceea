"""Usage errors and flags as a CI script meets them (issue 12 items 3 and 4).

A usage error exits 1, never 2 (`plan --detailed-exitcode`'s "changes pending"); a long
option must be spelled out; `-n/--namespace` exists only where it means something.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, REPO

EXAMPLE = EXAMPLES / "cross-zone-pools"


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env=env)


@pytest.mark.parametrize("args", [
    ("plan", "--offline", EXAMPLE, "--detailed-exitcode", "--no-such-flag"),
    ("plan", "--offline", EXAMPLE, "--stat", "x.yaml"),          # an abbreviation of --state
    ("apply", EXAMPLE, "--self"),                                # an abbreviation of --self-heal
    ("plan", "--offline", EXAMPLE, "-o", "yaml"),                # a bad choice
    ("no-such-command",),
    (),                                                           # no command at all
    ("watch", "--interval", "soon", EXAMPLE),                    # a bad value
], ids=["unknown-flag", "abbreviated-state", "abbreviated-self-heal", "bad-choice", "unknown-command",
        "no-command", "bad-number"])
def test_a_usage_error_exits_one_with_the_usage_and_one_error_line(args):
    result = run(*args)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.startswith("usage: spiderpool")
    assert result.stderr.splitlines()[-1].startswith("spiderpool") and ": error: " in result.stderr.splitlines()[-1]


def test_detailed_exitcode_still_says_two_for_changes_and_zero_for_none(tmp_path):
    assert run("plan", "--offline", EXAMPLE, "--detailed-exitcode").returncode == 2
    state = tmp_path / "state.yaml"
    state.write_text(run("render", EXAMPLE).stdout)
    assert run("plan", "--offline", "--state", state, EXAMPLE, "--detailed-exitcode").returncode == 0


@pytest.mark.parametrize("command", ["validate", "render", "plan", "apply", "watch", "status"])
def test_spec_commands_take_no_namespace_flag(command):
    """A spec's objects render the same whoever runs it (the Argo CD contract); where a network's
    NAD lives is the spec's `namespace:` (default kube-system), not the caller's -n."""
    assert "--namespace" not in run(command, "--help").stdout
    result = run(command, "-n", "netops", EXAMPLE)
    assert result.returncode == 1 and "-n" in result.stderr.splitlines()[-1]


def test_the_callers_namespace_environment_does_not_move_rendered_objects():
    import os

    plain = run("render", EXAMPLE).stdout
    moved = run("render", EXAMPLE, env={**os.environ, "SPIDERPOOL_NAMESPACE": "default"}).stdout
    assert plain == moved and "namespace: kube-system" in plain


def test_ipam_endpoints_keeps_its_namespace_filter():
    assert "-n NAMESPACE, --namespace NAMESPACE" in run("ipam", "endpoints", "--help").stdout
