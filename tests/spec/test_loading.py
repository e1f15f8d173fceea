"""Loading: files and directories, merging documents, and errors that point."""

from __future__ import annotations

import pytest

from reconciler.errors import SpecInvalid, SpecLoadError
from reconciler.loader import load_spec
from reconciler.pipeline import load_and_validate


def errors_of(path) -> list[str]:
    with pytest.raises(SpecInvalid) as caught:
        load_and_validate(path)
    return [str(e) for e in caught.value.errors]


def test_documents_of_one_spec_in_several_files_are_merged(write_spec, tmp_path):
    write_spec("""\
        spec:
          subnets:
            - {name: s6, subnet: 10.6.0.0/16, ips: [10.6.1.0-10.6.1.255]}
        """, file="net/subnets.yaml")
    write_spec("""\
        spec:
          ippools:
            - {name: p6, subnet: 10.6.0.0/16, ips: [10.6.1.10-10.6.1.20]}
        ---
        apiVersion: gitops.spidernet.io/v1alpha1
        kind: NetworkSpec
        metadata: {name: demo}
        spec:
          ippools:
            - {name: p6b, subnet: 10.6.0.0/16, ips: [10.6.1.30-10.6.1.40]}
        """, file="net/pools/pools.yml")
    spec = load_and_validate(tmp_path / "net").spec
    assert [s.name for s in spec.subnets] == ["s6"]
    assert [p.name for p in spec.ippools] == ["p6", "p6b"]


def test_a_name_defined_twice_names_both_places(write_spec, tmp_path):
    write_spec("spec:\n  ippools:\n    - {name: a, subnet: 10.6.0.0/16}\n", file="d/one.yaml")
    write_spec("spec:\n  ippools:\n    - {name: b, subnet: 10.6.0.0/16}\n    - {name: a, subnet: 10.6.0.0/16}\n",
               file="d/two.yaml")
    [error] = errors_of(tmp_path / "d")
    assert error == (f"{tmp_path}/d/two.yaml:8:14: spec.ippools[1].name: ippools entry 'a' is defined twice "
                     f"(first at {tmp_path}/d/one.yaml:7:14)")


def test_a_setting_defined_in_two_documents_is_an_error(write_spec):
    path = write_spec("""\
        spec:
          coordinator: {mode: overlay}
        ---
        apiVersion: gitops.spidernet.io/v1alpha1
        kind: NetworkSpec
        metadata: {name: demo}
        spec:
          coordinator: {mode: underlay, hostRuleTable: 600}
        """)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:12:17: spec.coordinator.mode: defined twice (first at {path}:6:17)")


def test_syntax_errors_point_at_the_line(write_spec):
    path = write_spec("spec:\n  ippools: [\n    {name: a\n", raw=False)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:") and "YAML syntax error" in error


def test_duplicate_keys_are_reported(write_spec):
    path = write_spec("spec:\n  ippools:\n    - name: a\n      subnet: 10.6.0.0/16\n      name: b\n")
    [error] = errors_of(path)
    assert error == f"{path}:9:7: spec.ippools[0].name: duplicate key (first defined at line 7)"


def test_every_value_keeps_file_line_and_column(write_spec):
    path = write_spec("spec:\n  ippools:\n    - name: a\n      subnet: 10.6.0.0/16\n      gateway: 10.7.0.1\n")
    [error] = errors_of(path)
    assert error == f"{path}:9:16: spec.ippools[0].gateway: gateway 10.7.0.1 is not inside the subnet 10.6.0.0/16"


def test_a_missing_path_is_one_clear_error(tmp_path):
    with pytest.raises(SpecLoadError, match=r"nope: no such file or directory"):
        load_spec(tmp_path / "nope")


def test_an_empty_directory_is_one_clear_error(tmp_path):
    with pytest.raises(SpecLoadError, match="no \\*.yaml or \\*.yml files"):
        load_spec(tmp_path)


def test_a_file_that_is_not_text_is_one_clear_error(tmp_path):
    (tmp_path / "spec.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SpecLoadError, match="not UTF-8 text"):
        load_spec(tmp_path / "spec.yaml")


def test_documents_of_other_api_groups_are_left_alone(write_spec, tmp_path):
    write_spec("spec:\n  ippools:\n    - {name: a, subnet: 10.6.0.0/16}\n", file="d/spec.yaml")
    (tmp_path / "d" / "app.yaml").write_text("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\n")
    assert [p.name for p in load_and_validate(tmp_path / "d").spec.ippools] == ["a"]


def test_a_directory_without_a_networkspec_says_so(tmp_path):
    (tmp_path / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(SpecLoadError, match="no NetworkSpec documents"):
        load_spec(tmp_path)


def test_two_specs_under_one_path_are_refused(write_spec, tmp_path):
    write_spec("spec: {}\n", name="one", file="d/a.yaml")
    write_spec("spec: {}\n", name="two", file="d/b.yaml")
    [error] = errors_of(tmp_path / "d")
    assert "a second NetworkSpec 'two'" in error and "one path holds one spec" in error


def test_hidden_directories_are_not_searched(write_spec, tmp_path):
    write_spec("spec: {}\n", file="d/spec.yaml")
    write_spec("spec: {broken: [\n", file="d/.git/junk.yaml", raw=True)
    assert load_and_validate(tmp_path / "d").spec.name == "demo"
