"""The `spiderpool` command as a user runs it: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO

EXAMPLE = EXAMPLES / "calico-overlay-macvlan"


def run(*args, cwd=REPO, env=None):
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env)


@pytest.fixture
def broken(write_spec):
    return write_spec("""\
        spec:
          ippools:
            - name: Bad_Name
              subnet: 10.6.0.1/16
              gateway: 10.7.0.1
              zones: [nowhere]
        """)


def test_validate_says_what_it_checked_and_exits_zero():
    result = run("validate", EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NetworkSpec ") and " is valid (" in result.stdout


def test_validate_lists_every_error_sorted_and_exits_one(broken):
    result = run("validate", broken)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{broken}:7:13: spec.ippools[0].name: 'Bad_Name' is not a valid DNS-1123 name (lowercase letters, digits, "
        "'-', '.'; starting and ending with a letter or digit; at most 253 characters)",
        f"{broken}:8:15: spec.ippools[0].subnet: '10.6.0.1/16' is not canonical; write 10.6.0.0/16",
        f"{broken}:10:15: spec.ippools[0].zones[0]: zone 'nowhere' is not defined in spec.zones",
        "3 errors: the spec is invalid; nothing was rendered or applied.",
    ]


def test_validate_json_is_for_machines(broken):
    result = run("validate", broken, "-o", "json")
    body = json.loads(result.stdout)
    assert result.returncode == 1 and body["valid"] is False
    assert body["errors"][0] == {"file": str(broken), "line": 7, "col": 13, "path": "spec.ippools[0].name",
                                 "message": body["errors"][0]["message"]}
    ok = json.loads(run("validate", EXAMPLE, "-o", "json").stdout)
    assert ok["valid"] is True and ok["counts"]["networks"] == 1


def test_render_prints_a_yaml_stream_or_a_json_list():
    stream = run("render", EXAMPLE)
    assert stream.returncode == 0
    kinds = [doc["kind"] for doc in yaml.safe_load_all(stream.stdout)]
    assert "NetworkAttachmentDefinition" in kinds and "SpiderIPPool" in kinds
    listed = json.loads(run("render", EXAMPLE, "-o", "json").stdout)
    assert listed["kind"] == "List" and [o["kind"] for o in listed["items"]] == kinds


def test_an_invalid_spec_renders_nothing(broken):
    result = run("render", broken)
    assert result.returncode == 1 and result.stdout == ""


def test_plan_offline_counts_and_detailed_exit_codes(tmp_path):
    objects = list(yaml.safe_load_all(run("render", EXAMPLE).stdout))
    plain = run("plan", "--offline", EXAMPLE)
    assert plain.returncode == 0
    assert plain.stdout.rstrip().splitlines()[-1] == f"Plan: {len(objects)} to add, 0 to change, 0 to destroy."
    assert "\x1b[" not in plain.stdout  # no colour when not on a terminal
    assert run("plan", "--offline", EXAMPLE, "--detailed-exitcode").returncode == 2

    state = tmp_path / "state.yaml"
    state.write_text(run("render", EXAMPLE).stdout)
    same = run("plan", "--state", state, EXAMPLE, "--detailed-exitcode")
    assert same.returncode == 0 and "No changes." in same.stdout


def test_plan_reads_a_kubectl_list_and_shows_field_changes(tmp_path):
    objects = list(yaml.safe_load_all(run("render", EXAMPLE).stdout))
    pool = next(o for o in objects if o["kind"] == "SpiderIPPool")
    pool["spec"]["gateway"] = "10.6.0.254"
    pool["status"] = {"allocatedIPCount": 2}
    stale = dict(objects[0], metadata={**objects[0]["metadata"], "name": "left-the-spec"})
    state = tmp_path / "state.yaml"
    state.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects + [stale]}))
    result = run("plan", "--offline", "--state", state, EXAMPLE, "--detailed-exitcode", "-o", "json")
    assert result.returncode == 2
    body = json.loads(result.stdout)
    assert body["summary"] == {"add": 0, "change": 1, "destroy": 1, "drift": 0, "unchanged": len(objects) - 1, "conflict": 0,
                               "rejected": 0, "refused": 0, "orphan": 0}
    [update] = [c for c in body["changes"] if c["action"] == "update"]
    assert update["fields"] == [{"path": "spec.gateway", "before": "10.6.0.254", "after": "10.6.0.1"}]
    text = run("plan", "--state", state, EXAMPLE, "--color", "always").stdout
    assert "\x1b[33m  ~ SpiderIPPool 10-6-v4 will be updated in place" in text
    assert '      ~ spec.gateway: "10.6.0.254" -> "10.6.0.1"' in text


def test_plan_refuses_objects_it_does_not_own(tmp_path):
    objects = list(yaml.safe_load_all(run("render", EXAMPLE).stdout))
    for obj in objects:
        obj["metadata"]["labels"] = {}
    state = tmp_path / "state.yaml"
    state.write_text(yaml.safe_dump_all(objects))
    result = run("plan", "--state", state, EXAMPLE, "--detailed-exitcode")
    assert result.returncode == 1
    assert "CONFLICT: exists and is not managed by spiderpool-gitops" in result.stdout
    assert result.stderr.startswith(f"spiderpool: error: {len(objects)} object(s) in the way")


@pytest.mark.parametrize("args, message", [
    (("validate", "no/such/dir"), "spiderpool: error: no/such/dir: no such file or directory\n"),
    (("plan", "--state", "missing.yaml", str(EXAMPLE)), "spiderpool: error: missing.yaml: cannot read state file: "
                                                         "No such file or directory\n"),
    (("plan", str(EXAMPLE)), None),
])
def test_problems_outside_the_spec_are_one_line_errors(args, message, tmp_path):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    if message:
        assert result.stderr == message


def test_a_state_file_that_is_not_objects_is_refused(tmp_path):
    state = tmp_path / "state.yaml"
    state.write_text("- just\n- a list\n")
    result = run("plan", "--state", state, EXAMPLE)
    assert result.returncode == 1
    assert result.stderr == f"spiderpool: error: {state}: document 1: not a Kubernetes object (needs apiVersion, kind " \
                            "and metadata.name)\n"
    state.write_text("items: [\n")
    assert "state file is not valid YAML" in run("plan", "--state", state, EXAMPLE).stderr


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("validate", "render", "plan"):
        assert command in result.stdout
