"""`helm spiderpool ...` end to end, through the real helm 3.17 and helm 4.1 binaries.

The plugin is installed from ./helm-plugin exactly as a user would (`helm plugin install`),
its install hook builds the virtualenv, and every command below goes helm -> shim -> CLI.
The environment mapping is checked with SPIDERPOOL_CLI pointing at a script that dumps
what it received, still run through real helm and the real shim.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.apply.conftest import cluster  # noqa: F401  (fixture)
from tests.helm_plugin.helm_env import PLUGIN_DIR, Helm, new_helm
from tests.k8s_binaries import REPO_ROOT, helm4

EXAMPLE = REPO_ROOT / "examples" / "calico-overlay-macvlan"
PLAN_SUMMARY = re.compile(r"^Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.$")

INVALID_SPEC = """\
apiVersion: gitops.spidernet.io/v1alpha1
kind: NetworkSpec
metadata:
  name: demo
spec:
  ippools:
    - name: pool-a
      subnet: 10.6.0.0/16
      ips: [10.6.168.60-10.6.168.69]
      gateway: 10.7.0.1
"""


def load_stream(text: str) -> list[dict]:
    return [doc for doc in YAML(typ="safe").load_all(text) if doc is not None]


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else ""


def received(result) -> dict:
    """What the env-dumping CLI saw: {'argv': [...], 'env': {...}}."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- installation -------------------------------------------------------------------------

def test_plugin_list_shows_spiderpool_0_1_0(helm: Helm):
    result = helm.run("plugin", "list")

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert ["spiderpool", "0.1.0"] in [row[:2] for row in rows], result.stdout


def test_install_hook_builds_the_virtualenv_in_helms_data_home(helm: Helm):
    assert "spiderpool: creating virtualenv" in helm.install_output
    assert f"spiderpool: installed: {helm.venv}/bin/spiderpool" in helm.install_output
    assert (helm.venv / "bin" / "spiderpool").is_file()
    assert not (PLUGIN_DIR / ".venv").exists()


def test_a_virtualenv_with_system_site_packages_is_used(helm: Helm):
    assert "include-system-site-packages = true" in (helm.venv / "pyvenv.cfg").read_text()


# --- the CLI through helm -----------------------------------------------------------------

def test_help_is_the_clis_own_and_lists_the_subcommands(helm: Helm):
    for flag in ("--help", "-h"):
        result = helm.run("spiderpool", flag)

        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: spiderpool"), result.stdout
        for command in ("validate", "render", "plan"):
            assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize("example", ["calico-bgp-fixed-ip", "calico-overlay-macvlan", "cross-zone-pools"])
def test_validate_accepts_the_bundled_examples(helm: Helm, example: str):
    result = helm.run("spiderpool", "validate", REPO_ROOT / "examples" / example)

    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


def test_validate_rejects_an_invalid_spec_with_an_error_that_points_at_it(helm: Helm, tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(INVALID_SPEC)

    result = helm.run("spiderpool", "validate", spec)

    assert result.returncode == 1, (result.stdout, result.stderr)
    pointing = re.compile(rf"^{re.escape(str(spec))}:10:\d+: spec\.ippools\[0\]\.gateway: .*10\.7\.0\.1",
                          re.MULTILINE)
    assert pointing.search(result.stderr), result.stderr


def test_render_prints_only_a_yaml_stream_with_a_network_attachment_definition(helm: Helm):
    result = helm.run("spiderpool", "render", EXAMPLE)

    assert result.returncode == 0, result.stderr
    objects = load_stream(result.stdout)
    kinds = {obj["kind"] for obj in objects}
    assert "NetworkAttachmentDefinition" in kinds, kinds
    assert "SpiderIPPool" in kinds, kinds
    for obj in objects:
        assert obj["apiVersion"] and obj["metadata"]["name"], obj
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "spiderpool-gitops", obj


def test_plan_offline_adds_every_rendered_object(helm: Helm):
    rendered = load_stream(helm.run("spiderpool", "render", EXAMPLE).stdout)

    result = helm.run("spiderpool", "plan", "--offline", "--no-color", EXAMPLE)

    assert result.returncode == 0, result.stderr
    summary = PLAN_SUMMARY.match(last_line(result.stdout))
    assert summary, result.stdout
    assert summary.groups() == (str(len(rendered)), "0", "0")


def test_plan_detailed_exitcode_2_for_changes_comes_back_through_helm(helm: Helm):
    result = helm.run("spiderpool", "plan", "--offline", "--no-color", "--detailed-exitcode", EXAMPLE)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert PLAN_SUMMARY.match(last_line(result.stdout)), result.stdout


def test_plan_against_a_state_holding_the_rendered_objects_has_nothing_to_do(helm: Helm, tmp_path: Path):
    state = tmp_path / "state.yaml"
    state.write_text(helm.run("spiderpool", "render", EXAMPLE).stdout)

    result = helm.run("spiderpool", "plan", "--offline", "--no-color", "--state", state,
                      "--detailed-exitcode", EXAMPLE)

    assert result.returncode == 0, (result.stdout, result.stderr)
    summary = last_line(result.stdout)
    assert summary.startswith("No changes.") or summary == "Plan: 0 to add, 0 to change, 0 to destroy.", \
        summary


# --- what helm's flags become ------------------------------------------------------------

def test_namespace_and_kube_context_reach_the_cli_as_its_environment(helm: Helm, env_dumping_cli: Path):
    result = helm.run("-n", "netops", "spiderpool", "plan", "--kube-context", "ctx", "spec/",
                      env={"SPIDERPOOL_CLI": str(env_dumping_cli)})

    seen = received(result)
    assert seen["argv"] == ["plan", "spec/"]  # helm consumed its own flags
    assert seen["env"]["SPIDERPOOL_NAMESPACE"] == "netops"
    assert seen["env"]["SPIDERPOOL_CONTEXT"] == "ctx"
    assert "SPIDERPOOL_DEBUG" not in seen["env"]


def test_without_kube_context_spiderpool_context_is_not_set(helm: Helm, env_dumping_cli: Path):
    seen = received(helm.run("spiderpool", "plan", env={"SPIDERPOOL_CLI": str(env_dumping_cli)}))

    assert "SPIDERPOOL_CONTEXT" not in seen["env"]
    assert seen["env"]["SPIDERPOOL_NAMESPACE"] == "default"  # helm's own fallback


def test_helm_debug_turns_on_spiderpool_debug(helm: Helm, env_dumping_cli: Path):
    seen = received(helm.run("--debug", "spiderpool", "validate", "x",
                             env={"SPIDERPOOL_CLI": str(env_dumping_cli)}))

    assert seen["env"]["HELM_DEBUG"] in ("1", "true")
    assert seen["env"]["SPIDERPOOL_DEBUG"] == "1"
    assert seen["argv"] == ["validate", "x"]


def test_kubeconfig_passes_through_unchanged(helm: Helm, env_dumping_cli: Path, tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")

    from_flag = received(helm.run("--kubeconfig", kubeconfig, "spiderpool", "plan",
                                  env={"SPIDERPOOL_CLI": str(env_dumping_cli)}))
    from_env = received(helm.run("spiderpool", "plan",
                                 env={"SPIDERPOOL_CLI": str(env_dumping_cli), "KUBECONFIG": str(kubeconfig)}))

    assert from_flag["env"]["KUBECONFIG"] == str(kubeconfig)
    assert from_env["env"]["KUBECONFIG"] == str(kubeconfig)


def test_any_exit_code_of_the_cli_comes_back_through_helm(helm: Helm, env_dumping_cli: Path):
    result = helm.run("spiderpool", "plan",
                      env={"SPIDERPOOL_CLI": str(env_dumping_cli), "DUMP_ENV_EXIT": "3"})

    assert result.returncode == 3, result.stderr


# --- install edge cases (fresh Helm directories each) ---------------------------------------

def test_a_hand_linked_plugin_builds_its_virtualenv_on_first_use_and_lives_through_update_and_uninstall(
        tmp_path: Path):
    # The shim's first-use path and the hooks are plain sh, whatever helm runs them; the
    # module fixture already covers `helm plugin install` on both versions.
    helm = new_helm(helm4(), tmp_path / "helm4")
    plugins = Path(helm.env["HELM_PLUGINS"])
    plugins.mkdir(parents=True)
    (plugins / "spiderpool").symlink_to(PLUGIN_DIR)  # named like the plugin this time

    first = helm.run("spiderpool", "--help", timeout=300)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("usage: spiderpool"), first.stdout  # progress went to stderr
    assert "running the install hook" in first.stderr
    assert (helm.venv / "bin" / "spiderpool").is_file()

    update_hook = YAML(typ="safe").load((PLUGIN_DIR / "plugin.yaml").read_text())["hooks"]["update"]
    venv_identity = (helm.venv / "pyvenv.cfg").stat().st_ino
    updated = subprocess.run(["sh", "-c", update_hook],  # as helm runs a legacy hook
                             env={**helm.env, "HELM_PLUGIN_DIR": str(plugins / "spiderpool")},
                             capture_output=True, text=True, timeout=300)

    assert updated.returncode == 0, updated.stderr
    assert f"spiderpool: reusing virtualenv {helm.venv}" in updated.stdout
    assert f"spiderpool: installed: {helm.venv}/bin/spiderpool" in updated.stdout
    assert (helm.venv / "pyvenv.cfg").stat().st_ino == venv_identity

    removed = helm.run("plugin", "uninstall", "spiderpool")

    assert removed.returncode == 0, removed.stderr
    assert not (plugins / "spiderpool").exists()
    assert not helm.venv.exists()
    assert (PLUGIN_DIR / "plugin.yaml").is_file()  # the checkout itself is untouched


def test_install_without_python_fails_with_a_one_line_reason(bare_helm: Helm, path_without_python: str):
    result = bare_helm.run("plugin", "install", PLUGIN_DIR, env={"PATH": path_without_python})

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "spiderpool: error: python3 not found on PATH" in result.stderr
    assert not bare_helm.venv.exists()


def test_install_fails_with_a_one_line_reason_when_pip_fails(bare_helm: Helm, tmp_path: Path):
    checkout = tmp_path / "broken-checkout"
    shutil.copytree(PLUGIN_DIR, checkout / "helm-plugin", symlinks=True,
                    ignore=shutil.ignore_patterns(".venv"))
    (checkout / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n\n'
        '[project]\nname = "spiderpool-gitops"\nversion = "0.1.0"\n'
    )

    result = bare_helm.run("plugin", "install", checkout / "helm-plugin", timeout=300)

    assert result.returncode == 1, (result.stdout, result.stderr)
    reasons = [line for line in result.stderr.splitlines() if line.startswith("spiderpool: error:")]
    assert len(reasons) == 1, result.stderr
    assert f"pip install of spiderpool-gitops from {checkout.resolve()} failed" in reasons[0]


# --- the GitOps loop through helm ---------------------------------------------------------

def test_watch_once_applies_a_directory_through_helm(helm: Helm, cluster, tmp_path: Path):
    (tmp_path / "spec.yaml").write_text(INVALID_SPEC.replace("gateway: 10.7.0.1", "gateway: 10.6.0.1"))

    result = helm.run("--kubeconfig", cluster.kubeconfig, "spiderpool", "watch", "--once", tmp_path)

    assert result.returncode == 0, result.stderr
    assert re.search(r" sha256:[0-9a-f]{8} \+1 ~0 -0 applied \d+\.\d\ds$", result.stdout, re.MULTILINE), result.stdout
    assert cluster.get("spiderippools.spiderpool.spidernet.io", "pool-a") is not None
