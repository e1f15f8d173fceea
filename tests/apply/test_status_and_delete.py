"""`status` shows the cluster as it is now, and `delete` retires a spec (issue 12 item 6),
through the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.apply.test_apply import allocate, owned
from tests.conftest import REPO

PATCH = '{"spec":{"gateway":"10.6.0.254"}}'


def run(cluster, *args):
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run([sys.executable, "-m", "reconciler", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=120)


def hand_edit(cluster):
    from kubernetes import client

    from tests.kubeapi.fixtures import api_client_for

    client.CustomObjectsApi(api_client_for(cluster)).patch_cluster_custom_object(
        "spiderpool.spidernet.io", "v2beta1", "spiderippools", "test-ippool-6", json.loads(PATCH))


def test_status_shows_a_hand_edit_made_after_the_last_apply(cluster, spec_copy):
    spec = spec_copy("cross-zone-pools")
    assert run(cluster, "apply", spec).returncode == 0
    hand_edit(cluster)
    result = run(cluster, "status")
    assert result.returncode == 1  # not healthy: the cluster drifted since
    row = result.stdout.splitlines()[1].split()
    assert row[:3] == ["cross-zone", "False", "Drifted"] and row[5] == "1"
    details = run(cluster, "status", "cross-zone")
    assert "Drift:        1 field(s) changed in the cluster now (planned just now)" in details.stdout
    assert "~ SpiderIPPool test-ippool-6 spec.gateway: live '10.6.0.254', spec '10.6.0.1'" in details.stdout
    item = json.loads(run(cluster, "status", "-o", "json").stdout)["items"][0]
    assert item["driftAsOf"] == "live" and item["drift"][0]["field"] == "spec.gateway"


def test_status_says_when_its_drift_is_only_as_of_the_last_apply(cluster, spec_copy):
    import shutil

    spec = spec_copy("cross-zone-pools")
    assert run(cluster, "apply", spec).returncode == 0
    shutil.rmtree(spec)  # the source is not readable here any more
    result = run(cluster, "status")
    assert result.returncode == 0
    assert result.stdout.splitlines()[1].split()[5] == "0@apply"
    assert "DRIFT n@apply: as of that spec's last apply" in result.stdout
    details = run(cluster, "status", "cross-zone").stdout
    assert "Drift:        0 field(s) as of the last apply (20" in details


def test_delete_prunes_everything_the_spec_owns_then_its_network_sync(cluster, spec_copy):
    spec = spec_copy("cross-zone-pools")
    assert run(cluster, "apply", spec).returncode == 0
    before = owned(cluster, "cross-zone")
    dry = run(cluster, "delete", "cross-zone", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "- SpiderIPPool test-ippool-6 would be deleted" in dry.stdout
    # a dry run deletes no pool, so their subnets still hold pools: drained, as a real run would not
    assert dry.stdout.splitlines()[-1] == "Dry run complete, nothing was stored: 4 would be deleted, 2 would be drained."
    assert owned(cluster, "cross-zone").keys() == before.keys()

    result = run(cluster, "delete", "cross-zone")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Delete complete: 6 deleted. NetworkSync cross-zone deleted."
    assert owned(cluster, "cross-zone") == {}
    assert cluster.get("networksyncs.gitops.spidernet.io", "cross-zone") is None

    again = run(cluster, "delete", "cross-zone")
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1] == ("spiderpool: error: no spec 'cross-zone' in the cluster: no "
                                             "NetworkSync and no object it owns")


def test_delete_drains_a_pool_in_use_and_keeps_the_network_sync_until_it_is_empty(cluster, spec_copy):
    from tests.kubeapi.fixtures import api_client_for

    spec = spec_copy("cross-zone-pools")
    assert run(cluster, "apply", spec).returncode == 0
    allocate(api_client_for(cluster), "test-ippool-7", ["10.7.168.61"])
    result = run(cluster, "delete", "cross-zone")
    assert result.returncode == 1
    assert "- SpiderIPPool test-ippool-7 draining: 1 IP(s) still allocated" in result.stdout
    assert "run `spiderpool delete cross-zone` again once they are released" in result.stderr.splitlines()[-1]
    pool = cluster.get("spiderippools.spiderpool.spidernet.io", "test-ippool-7")
    assert pool is not None and pool["spec"]["disable"] is True
    sync = cluster.get("networksyncs.gitops.spidernet.io", "cross-zone")
    ready = next(c for c in sync["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Draining"
