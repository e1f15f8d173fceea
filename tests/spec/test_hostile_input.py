"""Hostile spec and state files: each is refused with one line naming where and what, never a crash.

The corpus is `tests/spec/hostile/`: `<case>.yaml` (a spec) or `<case>.state` (a `--state` file)
beside `<case>.expected`, the first line stderr must show. Inputs too big, too deep or too special
to commit (a 100 KB bracket run, a FIFO, a symlink to /dev/zero, files past the size bounds) are
made by the tests below, each next to its expected line. Every case goes through the real CLI in
a subprocess at each front door (validate, render, plan --offline, plan --state): exit 1, nothing
on stdout, the expected line, at most a summary line after it, and no traceback, warning or
"internal error". A timeout stands in for "does not hang or explode"; tests never assert on time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.loader import MAX_FILE_BYTES, MAX_SPEC_BYTES
from reconciler.yamlsource import MAX_DEPTH

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "spec" / "hostile"
SUMMARY = "1 error: the spec is invalid; nothing was rendered or applied."
HEADER = "apiVersion: gitops.spidernet.io/v1alpha1\nkind: NetworkSpec\nmetadata: {name: demo}\n"
VALID = HEADER + "spec:\n  cluster: {ipVersions: [4]}\n"


def run(*args, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})


def front_doors(spec: str, state: str) -> list[list[str]]:
    return [["validate", spec], ["render", spec], ["plan", "--offline", spec], ["plan", "--state", state, spec]]


def assert_refused(proc: subprocess.CompletedProcess, expected: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert lines[:1] == [expected]
    assert lines[1:] in ([], [SUMMARY]), proc.stderr
    assert "internal error" not in proc.stderr and "Warning" not in proc.stderr


@pytest.fixture(scope="module")
def empty_state(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("state") / "empty.yaml"
    path.write_text("")
    return path


# --- the committed corpus --------------------------------------------------------------------

SPEC_CASES = sorted(p.stem for p in CORPUS.glob("*.yaml"))
STATE_CASES = sorted(p.stem for p in CORPUS.glob("*.state"))


def test_every_corpus_file_has_its_expected_line():
    inputs = {p.stem for p in CORPUS.iterdir() if p.suffix in (".yaml", ".state")}
    expected = {p.stem for p in CORPUS.glob("*.expected")}
    assert inputs == expected


@pytest.mark.parametrize("case", SPEC_CASES)
def test_a_hostile_spec_is_one_error_at_every_front_door(case, empty_state):
    expected = (CORPUS / f"{case}.expected").read_text().strip()
    for argv in front_doors(f"tests/spec/hostile/{case}.yaml", str(empty_state)):
        assert_refused(run(*argv), expected)


@pytest.mark.parametrize("case", STATE_CASES)
def test_a_hostile_state_file_is_one_error(case, tmp_path):
    (tmp_path / "spec.yaml").write_text(VALID)
    expected = (CORPUS / f"{case}.expected").read_text().strip()
    assert_refused(run("plan", "--state", f"tests/spec/hostile/{case}.state", tmp_path / "spec.yaml"), expected)


# --- generated specs: too big, too deep or not files -------------------------------------------

def _deep_flow(depth: int) -> str:
    return HEADER + "spec: " + "[" * depth + "]" * depth + "\n"


GENERATED = {
    # name: (files to write {relative path: text}, the PATH to give, expected first line)
    "flow-nesting-50000": ({"s.yaml": _deep_flow(50_000)}, "s.yaml",  # was SIGSEGV in the C composer
                           f"s.yaml:4:{6 + MAX_DEPTH}: spec[0][0][0]...({MAX_DEPTH} levels): "
                           f"nested more than {MAX_DEPTH} levels deep"),
    "mapping-nesting-1000": ({"s.yaml": HEADER + "spec: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n"}, "s.yaml",
                             f"s.yaml:4:{7 + 4 * (MAX_DEPTH - 1)}: spec.a.a.a...({MAX_DEPTH} levels): "
                             f"nested more than {MAX_DEPTH} levels deep"),  # was RecursionError
    "block-nesting-100000": ({"s.yaml": HEADER + "spec:\n  x:\n  " + "- " * 100_000 + "a\n"}, "s.yaml",
                             f"s.yaml:6:{3 + 2 * (MAX_DEPTH - 2)}: spec.x[0][0]...({MAX_DEPTH} levels): "
                             f"nested more than {MAX_DEPTH} levels deep"),
    "integer-of-5000-digits": ({"s.yaml": VALID + "  coordinator: {hostRuleTable: " + "9" * 5000 + "}\n"}, "s.yaml",
                               "s.yaml:6:32: spec.coordinator.hostRuleTable: an integer of 5000 digits is too large "
                               "(at most 100)"),  # was ValueError from int()
    "file-past-the-size-bound": ({"s.yaml": VALID + "#" * MAX_FILE_BYTES + "\n"}, "s.yaml",
                                 f"spiderpool: error: s.yaml: larger than {MAX_FILE_BYTES >> 20} MiB, the limit for one "
                                 "spec file; split the spec into several files"),
    "files-past-the-spec-bound": ({**{f"d/{i}.yaml": "#" * (MAX_FILE_BYTES - 10) + "\n"
                                      for i in range(MAX_SPEC_BYTES // MAX_FILE_BYTES + 1)}, "d/spec.yaml": VALID},
                                  "d", f"spiderpool: error: d: the spec files add up to more than "
                                       f"{MAX_SPEC_BYTES >> 20} MiB (the limit for one spec), reached at d/4.yaml"),
    "only-other-documents": ({"d/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}, "d",
                             "spiderpool: error: d: no NetworkSpec documents "
                             "(apiVersion gitops.spidernet.io/v1alpha1, kind NetworkSpec)"),
}


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_a_generated_hostile_spec_is_one_error_at_every_front_door(case, tmp_path, empty_state):
    files, path, expected = GENERATED[case]
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for argv in front_doors(path, str(empty_state)):
        assert_refused(run(*argv, cwd=tmp_path), expected)


def _spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "spec.yaml").write_text(VALID)
    return tmp_path / "d"


def test_a_symlink_to_dev_zero_in_a_spec_directory_is_refused_without_reading_it(tmp_path, empty_state):
    (_spec_dir(tmp_path) / "z.yaml").symlink_to("/dev/zero")  # was 4 GB read, then MemoryError
    for argv in front_doors("d", str(empty_state)):
        assert_refused(run(*argv, cwd=tmp_path), "spiderpool: error: d/z.yaml: a symbolic link to /dev/zero, "
                                                 "outside d; a spec directory is read only from files inside it")


def test_a_symlink_out_of_the_spec_directory_is_refused(tmp_path, empty_state):
    (tmp_path / "secret.yaml").write_text(VALID)
    (_spec_dir(tmp_path) / "z.yaml").symlink_to(tmp_path / "secret.yaml")
    assert_refused(run("validate", "d", cwd=tmp_path),
                   f"spiderpool: error: d/z.yaml: a symbolic link to {tmp_path / 'secret.yaml'}, outside d; "
                   "a spec directory is read only from files inside it")


def test_a_symlink_inside_the_spec_directory_is_read(tmp_path):
    spec = _spec_dir(tmp_path)
    (spec / "more").mkdir()
    (spec / "more" / "coordinator.txt").write_text(HEADER + "spec:\n  coordinator: {mode: overlay, hostRuleTable: 999}\n")
    (spec / "coordinator.yml").symlink_to(spec / "more" / "coordinator.txt")
    proc = run("validate", "-o", "json", "d", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rendered = run("render", "d", cwd=tmp_path)
    assert "999" in rendered.stdout  # the linked file was read


def test_a_fifo_in_a_spec_directory_is_refused_without_blocking(tmp_path, empty_state):
    os.mkfifo(_spec_dir(tmp_path) / "z.yaml")  # was a hang for ever
    for argv in front_doors("d", str(empty_state)):
        assert_refused(run(*argv, cwd=tmp_path),
                       "spiderpool: error: d/z.yaml: not a regular file (a FIFO); a spec is read from regular files only")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_given_as_the_spec_path_is_refused(kind, tmp_path):
    if kind == "fifo":
        os.mkfifo(tmp_path / "s.yaml")
        path, expected = "s.yaml", "spiderpool: error: s.yaml: not a regular file (a FIFO); a spec is read from regular files only"
    else:
        path, expected = "/dev/zero", ("spiderpool: error: /dev/zero: not a regular file (a character device); "
                                       "a spec is read from regular files only")
    assert_refused(run("validate", path, cwd=tmp_path), expected)


# --- generated state files --------------------------------------------------------------------

GENERATED_STATES = {
    "json-nesting-100000": ("[" * 100_000 + "]" * 100_000,  # was RecursionError
                            f"spiderpool: error: state.json:1:{MAX_DEPTH + 1}: state file is nested more than "
                            f"{MAX_DEPTH} levels deep"),
    "json-nesting-150": ('{"items": ' + "[" * 150 + "]" * 150 + "}",
                         f"spiderpool: error: state.json:1:{11 + MAX_DEPTH - 1}: state file is nested more than "
                         f"{MAX_DEPTH} levels deep"),
    "json-integer-of-5000-digits": ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": '
                                    '{"a": ' + "1" * 5000 + "}}",  # was ValueError
                                    "spiderpool: error: state.json:1:84: state file holds an integer of more than "
                                    "4300 digits"),
    "yaml-integer-of-5000-digits": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: " + "1" * 5000 + "}\n",
                                    "spiderpool: error: state.json:4:11: state file holds an integer of more than "
                                    "4300 digits"),
}


@pytest.mark.parametrize("case", sorted(GENERATED_STATES))
def test_a_generated_hostile_state_file_is_one_error(case, tmp_path):
    text, expected = GENERATED_STATES[case]
    (tmp_path / "state.json").write_text(text)
    (tmp_path / "spec.yaml").write_text(VALID)
    assert_refused(run("plan", "--state", "state.json", "spec.yaml", cwd=tmp_path), expected)


def test_a_fifo_as_the_state_file_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "state.yaml")
    (tmp_path / "spec.yaml").write_text(VALID)
    assert_refused(run("plan", "--state", "state.yaml", "spec.yaml", cwd=tmp_path),
                   "spiderpool: error: state.yaml: state file is not a regular file")
