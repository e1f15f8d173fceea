"""The Argo CD plugin (examples/argocd/plugin.yaml), run as argocd-cmp-server runs it.

tests/argocd/cmp.py reproduces cmp-server's runCommand (cwd = the app's directory in a fresh
copy of the repo, the sidecar's env plus ARGOCD_APP_*, ARGOCD_ENV_*, PARAM_*, its own process
group, SIGTERM then SIGKILL at the deadline, the error text the UI shows). Each test runs the
real `spiderpool` console script of this venv as the sidecar's PATH would find it.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from tests.argocd.cmp import App, CmdError, PluginRunner
from tests.conftest import EXAMPLES, HEADER

PLUGIN = EXAMPLES / "argocd" / "plugin.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture
def runner(tmp_path):
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}
    return PluginRunner(PLUGIN, tmp_path / "cmp", sidecar_env=env, timeout=60)


@pytest.fixture
def repo(tmp_path):
    """A repo with the seed example under clusters/prod/network and an unrelated app beside it."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "calico-overlay-macvlan", root / "clusters" / "prod" / "network")
    (root / "apps" / "web").mkdir(parents=True)
    (root / "apps" / "web" / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    return root


def _spec(root: Path, rel: str, body: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(name="demo") + textwrap.dedent(body))


def test_discover_matches_only_an_app_with_a_network_spec(runner, repo):
    assert runner.discover(repo, App(path="clusters/prod/network")) is True
    assert runner.discover(repo, App(path="apps/web")) is False


def test_generate_renders_the_spec_in_the_app_directory(runner, repo):
    objects = runner.generate(repo, App(path="clusters/prod/network"))
    kinds = [o["kind"] for o in objects]
    assert kinds == ["SpiderIPPool", "SpiderCoordinator", "NetworkAttachmentDefinition"]
    assert objects[0]["metadata"]["annotations"]["gitops.spidernet.io/source"] == "network.yaml:14"  # relative to the spec (no .git here)
    assert all("argocd.argoproj.io/sync-wave" not in o["metadata"]["annotations"] for o in objects)


def test_parameters_and_env_entries_become_render_flags(runner, repo):
    app = App(path="clusters/prod/network", parameters=[{"name": "sync-waves", "string": "true"}],
              env={"PRUNE_CONFIRM": "yes"})
    objects = runner.generate(repo, app)
    waves = {o["kind"]: o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] for o in objects}
    assert waves == {"SpiderIPPool": "1", "SpiderCoordinator": "2", "NetworkAttachmentDefinition": "2"}
    pool = objects[0]
    assert pool["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=confirm"
    # a parameter wins over the env entry of the same option
    app = App(path="clusters/prod/network", parameters=[{"name": "prune-confirm", "string": "false"}],
              env={"PRUNE_CONFIRM": "true"})
    assert "argocd.argoproj.io/sync-options" not in runner.generate(repo, app)[0]["metadata"]["annotations"]


def test_spec_path_parameter_picks_a_subdirectory(runner, repo):
    _spec(repo, "clusters/lab/specs/net.yaml", """\
        spec:
          ippools:
            - {name: lab-pool, subnet: 10.9.0.0/16, ips: [10.9.0.10-10.9.0.20], gateway: 10.9.0.1}
        """)
    (repo / "clusters" / "lab" / "README.yaml").write_text("kind: Note\n")
    app = App(path="clusters/lab", parameters=[{"name": "spec-path", "string": "specs"}])
    assert [o["metadata"]["name"] for o in runner.generate(repo, app)] == ["lab-pool"]
    with pytest.raises(CmdError, match=r"PARAM_SPEC_PATH='\.\./prod': the spec path must lie inside"):
        runner.generate(repo, App(path="clusters/lab", parameters=[{"name": "spec-path", "string": "../prod"}]))


def test_an_empty_spec_is_refused_with_one_line_naming_file_and_line(runner, repo):
    _spec(repo, "clusters/empty/net.yaml", """\
        spec:
          zones:
            - {name: z, nodeSelector: {matchLabels: {a: b}}}
        """)
    app = App(path="clusters/empty")
    assert runner.discover(repo, app) is True  # it is a spec: the plugin must answer, not stay silent
    with pytest.raises(CmdError) as failed:
        runner.generate(repo, app)
    message = str(failed.value)
    assert message.startswith("`spiderpool argocd-cmp generate` failed exit status 1: clusters/empty/net.yaml:5:1: spec: "
                              "renders no objects")
    assert "--allow-empty" in message and "\n" not in message
    # the Application can say it means it
    assert runner.generate(repo, App(path="clusters/empty", env={"ALLOW_EMPTY": "true"})) == []


def test_a_fully_disabled_spec_is_refused_unless_allowed(runner, repo):
    _spec(repo, "clusters/off/net.yaml", """\
        spec:
          ippools:
            - {name: a, subnet: 10.9.0.0/16, ips: [10.9.0.10-10.9.0.20], disable: true}
            - {name: b, subnet: 10.8.0.0/16, ips: [10.8.0.10-10.8.0.20], disable: true}
        """)
    with pytest.raises(CmdError, match=r"clusters/off/net\.yaml:7:75: spec\.ippools\[0\]\.disable: every pool of the "
                                       r"spec is disabled \(2 of 2\)"):
        runner.generate(repo, App(path="clusters/off"))
    allowed = App(path="clusters/off", parameters=[{"name": "allow-empty", "string": "true"}])
    assert [o["spec"]["disable"] for o in runner.generate(repo, allowed)] == [True, True]


def test_an_invalid_spec_reaches_the_ui_with_file_line_and_col(runner, repo):
    net = repo / "clusters" / "prod" / "network" / "network.yaml"
    net.write_text(net.read_text().replace("gateway: 10.6.0.1", "gateway: 10.7.0.1"))
    with pytest.raises(CmdError, match=r"failed exit status 1: clusters/prod/network/network\.yaml:18:16: "
                                       r"spec\.ippools\[0\]\.gateway: gateway 10\.7\.0\.1 is not inside"):
        runner.generate(repo, App(path="clusters/prod/network"))


def test_a_bad_option_value_is_named(runner, repo):
    with pytest.raises(CmdError, match=r"ARGOCD_ENV_SYNC_WAVES='maybe': expected true or false"):
        runner.generate(repo, App(path="clusters/prod/network", env={"SYNC_WAVES": "maybe"}))


def test_a_command_past_the_deadline_is_killed_with_its_group(tmp_path, repo):
    slow = tmp_path / "slow.yaml"
    slow.write_text(PLUGIN.read_text().replace("command: [spiderpool, argocd-cmp, generate]",
                                               "command: [sh, -c, 'sleep 30 & sleep 30']"))
    runner = PluginRunner(slow, tmp_path / "cmp", timeout=1)
    with pytest.raises(CmdError, match="failed signal: term"):
        runner.generate(repo, App(path="clusters/prod/network"))
    assert runner.last_duration < 10


def test_render_itself_refuses_an_empty_spec(write_spec, capsys):
    from reconciler.cli import main

    path = write_spec("spec:\n  zones:\n    - {name: z, nodeSelector: {matchLabels: {a: b}}}\n")
    assert main(["render", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"{path}:5:1: spec: renders no objects")
    assert main(["render", "--allow-empty", str(path)]) == 0
    assert capsys.readouterr().out == ""
