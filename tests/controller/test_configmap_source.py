"""`spiderpool controller --source-configmap`: the source is read from a ConfigMap, and followed when it changes."""

from __future__ import annotations

from tests.controller.conftest import until
from tests.controller.test_failover import POOLS, TWO_POOLS, revision
from tests.watch.gitremote import spec


def test_the_loop_follows_the_configmap_and_moves_when_it_changes(remote, controllers, cluster, tmp_path):
    first = remote.push_spec(spec())
    remote.spec_dir = "staging"
    second = remote.push_spec(spec(pools=TWO_POOLS), "the same spec, two pools, in another directory")
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "net-source", "namespace": "default"},
                    "data": {"repo": remote.git_url, "ref": "main", "path": "specs", "interval": "1"}})
    c = controllers("ctl-cm", "--source-configmap", "default/net-source", "--lease-namespace", "default",
                    "--lease-name", "ctl-cm", "--cache-dir", tmp_path / "cache", "--retry-period", "0.5",
                    "--gc-interval", "600", "--coordinator-interval", "600")
    until(lambda: revision(cluster) == second, timeout=60, what="the spec under specs/ is applied", context=c.logs)
    assert cluster.get(POOLS, "pool-b") is None    # specs/ holds one pool at either commit
    assert first != second

    cluster.patch("configmaps", "net-source", {"data": {"path": "staging"}}, "default")
    until(lambda: cluster.get(POOLS, "pool-b"), timeout=60, what="the spec under staging/ is applied",
          context=c.logs)
    assert '"the source ConfigMap changed; restarting the loop"' in c.logs()
    assert c.stop() == 0


def test_a_configmap_naming_a_path_outside_the_repo_is_an_error_then_the_fix_is_followed(
        remote, controllers, cluster, tmp_path):
    good = remote.push_spec(spec())
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "net-source", "namespace": "default"},
                    "data": {"repo": remote.git_url, "ref": "main", "path": "../specs", "interval": "1"}})
    c = controllers("ctl-cm", "--source-configmap", "default/net-source", "--lease-namespace", "default",
                    "--lease-name", "ctl-cm", "--cache-dir", tmp_path / "cache", "--retry-period", "0.5",
                    "--gc-interval", "600", "--coordinator-interval", "600")
    until(lambda: "cannot follow the source" in c.logs(), timeout=60, what="the refusal of ../specs", context=c.logs)
    assert "--path '../specs' must be a path inside the repository" in c.logs()

    cluster.patch("configmaps", "net-source", {"data": {"path": "specs"}}, "default")   # the loop lived on
    until(lambda: revision(cluster) == good, timeout=60, what="the fixed path applied", context=c.logs)
    assert c.logs().count("cannot follow the source") == 1
    assert c.stop() == 0
