"""Every broken spec in `examples/invalid/` fails exactly the way its `.expected` file says.

A case is `examples/invalid/<name>.yaml` (or a directory `examples/invalid/<name>/`) with
`examples/invalid/<name>.expected` beside it: the exact error lines `spiderpool validate
examples/invalid/<name>...` prints on stderr, run from the repo root, without the final summary
line. Cases are collected by glob at import time, so a new pair is picked up by itself.

For each case:
- the real CLI in a subprocess (`python -m reconciler validate ...`): exit 1, nothing on
  stdout, the expected lines on stderr, then a summary line with the right count;
- the same through `reconciler.pipeline.load_and_validate` in-process (quick to debug);
- `render` and `plan --offline` (through `reconciler.cli.main`, in-process to keep the run
  short): exit 1, nothing on stdout (an invalid spec renders nothing), the same errors.

The validate subprocesses of all selected cases are started together on first use (a few at a
time), so the run costs about (cases x 0.5 s) / CPUs.

XFAIL lists cases whose `.expected` says what the validator SHOULD print but does not yet;
they are strict, so a fix turns them into failures until the entry is removed here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVALID = REPO / "examples" / "invalid"
RELATIVE = "examples/invalid"

# name -> why it fails today. Remove the entry once the validator prints the .expected lines.
XFAIL: dict[str, str] = {}


def _discover() -> tuple[dict[str, str], set[str]]:
    """Cases (name -> path to validate, relative to the repo) and the names of all .expected files."""
    cases: dict[str, str] = {}
    for spec in sorted(INVALID.glob("*.yaml")):
        cases[spec.stem] = f"{RELATIVE}/{spec.name}"
    for directory in sorted(p for p in INVALID.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
        if directory.name in cases:
            raise AssertionError(f"{directory.name} is both a file and a directory case in {RELATIVE}")
        cases[directory.name] = f"{RELATIVE}/{directory.name}"
    expected = {p.stem for p in INVALID.glob("*.expected")}
    return cases, expected


CASES, EXPECTED_FILES = _discover()


def _params() -> list:
    return [pytest.param(name, id=name,
                         marks=[pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else [])
            for name in CASES]


def _expected_lines(name: str) -> list[str]:
    path = INVALID / f"{name}.expected"
    if not path.is_file():
        pytest.fail(f"{RELATIVE}/{name}.expected is missing: write the error lines the spec must produce")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines, f"{path.name} is empty: an invalid spec has at least one error"
    return lines


def _summary(count: int) -> str:
    return f"{count} error{'s' if count != 1 else ''}: the spec is invalid; nothing was rendered or applied."


# --- the pairing of specs and .expected files ---------------------------------------------------

def test_every_spec_has_an_expected_file():
    missing = sorted(name for name in CASES if name not in EXPECTED_FILES)
    assert not missing, f"specs without a .expected file in {RELATIVE}: {missing}"


def test_every_expected_file_has_a_spec():
    orphans = sorted(name for name in EXPECTED_FILES if name not in CASES)
    assert not orphans, f".expected files without a spec (<name>.yaml or <name>/) in {RELATIVE}: {orphans}"


def test_xfail_entries_name_existing_cases():
    stale = sorted(set(XFAIL) - set(CASES))
    assert not stale, f"XFAIL names cases that do not exist: {stale}"


def test_there_are_enough_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_each_spec_says_what_it_breaks(name):
    target = REPO / CASES[name]
    files = sorted(target.rglob("*.y*ml")) if target.is_dir() else [target]
    assert files, f"{CASES[name]} holds no YAML files"
    for file in files:
        first = file.read_text(encoding="utf-8").splitlines()[:1]
        assert first and first[0].startswith("#"), (
            f"{file.relative_to(REPO)} must start with a YAML comment saying which rule it breaks")


# --- the real CLI, in a subprocess ---------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_runs: dict[str, Future] = {}


def _run_validate(name: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SPIDERPOOL_DEBUG", "PYTHONSTARTUP")}
    return subprocess.run([sys.executable, "-m", "reconciler", "validate", CASES[name]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _validate_result(name: str, session: pytest.Session) -> subprocess.CompletedProcess:
    """The subprocess result for `name`; the first call starts those of every selected case."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        selected = [item.callspec.params["name"] for item in session.items
                    if getattr(item, "originalname", None) == "test_validate_cli" and hasattr(item, "callspec")]
        for case in dict.fromkeys(selected):
            _runs[case] = _pool.submit(_run_validate, case)
    if name not in _runs:
        _runs[name] = _pool.submit(_run_validate, name)
    return _runs[name].result()


@pytest.fixture(scope="module", autouse=True)
def _shutdown_pool():
    yield
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None
        _runs.clear()


@pytest.mark.parametrize("name", _params())
def test_validate_cli(name, request):
    expected = _expected_lines(name)
    result = _validate_result(name, request.session)
    stderr = result.stderr.splitlines()
    assert result.stdout == "", f"validate printed on stdout:\n{result.stdout}"
    assert result.returncode == 1, f"validate exited {result.returncode}; stderr:\n{result.stderr}"
    assert stderr, "validate printed nothing on stderr"
    assert stderr[:-1] == expected
    assert stderr[-1] == _summary(len(expected))


# --- the same in-process ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", _params())
def test_validate_in_process(name, monkeypatch):
    from reconciler.errors import SpecInvalid
    from reconciler.pipeline import load_and_validate

    expected = _expected_lines(name)
    monkeypatch.chdir(REPO)  # error locations are relative paths, as the CLI run from the repo root prints them
    with pytest.raises(SpecInvalid) as caught:
        load_and_validate(CASES[name])
    assert [str(error) for error in caught.value.errors] == expected


@pytest.mark.parametrize("name", _params())
def test_render_and_plan_refuse(name, monkeypatch, capsys):
    from reconciler.cli import main

    expected = _expected_lines(name) + [_summary(len(_expected_lines(name)))]
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SPIDERPOOL_DEBUG", raising=False)
    for argv in (["render", CASES[name]], ["plan", "--offline", CASES[name]]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert out == "", f"`spiderpool {' '.join(argv)}` printed on stdout:\n{out}"
        assert code == 1, f"`spiderpool {' '.join(argv)}` exited {code}; stderr:\n{err}"
        assert err.splitlines() == expected, f"`spiderpool {' '.join(argv)}` reported other errors than validate"
