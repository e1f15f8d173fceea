"""`spiderpool watch --repo` against the real API server, following a git remote on loopback."""

from __future__ import annotations

import signal
import time
import urllib.request

from tests.watch.conftest import applied
from tests.watch.gitremote import spec

POOLS = "spiderippools.spiderpool.spidernet.io"
SYNCS = "networksyncs.gitops.spidernet.io"
SECRET = "hook-secret-for-tests"
TWO_POOLS = {"pool-a": "10.6.168.60-10.6.168.69", "pool-b": "10.6.168.70-10.6.168.79"}


def condition(sync, type_):
    return next(c for c in sync["status"]["conditions"] if c["type"] == type_)


def git_watch(watcher, remote, tmp_path, *extra):
    return watcher("--repo", remote.git_url, "--ref", "main", "--path", "specs", "--cache-dir", tmp_path / "cache",
                   *extra)


def github_hook(url: str, secret: str) -> int:
    from reconciler.webhook import github_signature

    body = b'{"ref": "refs/heads/main"}'
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "X-Hub-Signature-256": github_signature(secret.encode(), body), "X-GitHub-Event": "push"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def test_a_pushed_change_is_applied_as_soon_as_the_webhook_says_so(remote, watcher, cluster, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    first = remote.push_spec(spec())
    w = git_watch(watcher, remote, tmp_path, "--interval", "600", "--webhook-listen", "127.0.0.1:0",
                  "--webhook-secret-file", secret)
    assert w.next(applied(first))["plan"] == {"add": 1, "change": 0, "destroy": 0}

    second = remote.push_spec(spec(pools=TWO_POOLS))
    assert github_hook(w.webhook_url, SECRET) == 202
    outcome = w.next(applied(second), timeout=20)   # the poll is 10 minutes away: only the hook can do this

    assert outcome["plan"] == {"add": 1, "change": 0, "destroy": 0}
    assert cluster.get(POOLS, "pool-b")["spec"]["ips"] == ["10.6.168.70-10.6.168.79"]
    sync = cluster.get(SYNCS, "demo")
    assert sync["status"]["revision"] == sync["status"]["lastAttemptedRevision"] == second
    assert sync["spec"]["source"] == {"repo": remote.git_url, "ref": "main", "path": "specs"}
    assert w.stop() == 0


def test_an_invalid_push_is_stalled_never_applied_and_the_next_good_push_recovers(remote, watcher, cluster,
                                                                                  tmp_path):
    good = remote.push_spec(spec())
    w = git_watch(watcher, remote, tmp_path, "--interval", "1")
    w.next(applied(good))
    pool_a = cluster.get(POOLS, "pool-a")

    bad = remote.push_spec(spec(pools=TWO_POOLS, gateway="10.99.0.1"), "a gateway outside the subnet")
    outcome = w.next(lambda o: o["revision"] == bad)

    assert outcome["result"] == "invalid"
    assert "specs/spec.yaml:10:16: spec.ippools[0].gateway: gateway 10.99.0.1 is not inside the subnet " \
           "10.6.0.0/16" in outcome["errors"], outcome["errors"]
    assert outcome["appliedRevision"] == good
    assert cluster.get(POOLS, "pool-b") is None
    assert cluster.get(POOLS, "pool-a")["metadata"]["resourceVersion"] == pool_a["metadata"]["resourceVersion"]
    sync = cluster.get(SYNCS, "demo")
    stalled = condition(sync, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert bad in stalled["message"] and "specs/spec.yaml:10:16" in stalled["message"]
    assert condition(sync, "Ready")["status"] == "False"
    assert (sync["status"]["revision"], sync["status"]["lastAttemptedRevision"]) == (good, bad)

    fix = remote.push_spec(spec(pools=TWO_POOLS), "fix the gateway")
    w.next(applied(fix))
    assert cluster.get(POOLS, "pool-b") is not None
    sync = cluster.get(SYNCS, "demo")
    assert condition(sync, "Ready")["status"] == "True"
    assert condition(sync, "Stalled")["status"] == "False"
    assert sync["status"]["revision"] == fix
    # polled every second meanwhile, the bad revision was tried exactly once
    assert [o["result"] for o in w.outcomes if o["revision"] == bad] == ["invalid"]
    assert w.stop() == 0


def test_a_force_push_is_followed_to_the_rewritten_tip(remote, watcher, cluster, tmp_path):
    remote.push_spec(spec())
    doomed = remote.push_spec(spec(pools=TWO_POOLS))
    w = git_watch(watcher, remote, tmp_path, "--interval", "1")
    w.next(applied(doomed))

    rewritten = remote.force_push_spec(spec(pools={"pool-c": "10.6.168.80-10.6.168.89"}))
    outcome = w.next(applied(rewritten))

    assert outcome["plan"] == {"add": 1, "change": 0, "destroy": 2}
    assert [p["metadata"]["name"] for p in cluster.list(POOLS)] == ["pool-c"]
    assert w.stop() == 0


def test_a_pool_waiting_for_its_last_ip_is_news_once_then_again_when_it_goes(remote, watcher, cluster, tmp_path):
    from kubernetes import client

    from tests.apply.test_apply import allocate
    from tests.kubeapi.fixtures import api_client_for

    first = remote.push_spec(spec(pools=TWO_POOLS))
    w = git_watch(watcher, remote, tmp_path, "--interval", "1")
    w.next(applied(first))
    api = api_client_for(cluster)
    allocate(api, "pool-b", ["10.6.168.70"])

    second = remote.push_spec(spec(), "drop pool-b")
    outcome = w.next(applied(second))
    assert (outcome["result"], outcome["counts"]) == ("applied", {"draining": 1})
    assert cluster.get(POOLS, "pool-b")["spec"]["disable"] is True
    # polled every second, the same pool still waiting is no news: no outcome line per pass
    time.sleep(4)
    w.lines.put('{"revision": "probe", "result": "probe"}\n')
    w.next(lambda o: o["revision"] == "probe")
    assert [o["result"] for o in w.outcomes if o["revision"] == second] == ["applied"]

    client.CustomObjectsApi(api).patch_cluster_custom_object_status(
        "spiderpool.spidernet.io", "v2beta1", "spiderippools", "pool-b",
        {"status": {"allocatedIPs": None, "allocatedIPCount": 0}})
    gone = w.next(lambda o: o["revision"] == second and o["counts"].get("deleted"), timeout=20)
    assert (gone["result"], gone["counts"]) == ("applied", {"deleted": 1})
    assert cluster.get(POOLS, "pool-b") is None
    assert w.stop() == 0


def test_a_deleted_ref_is_a_clear_status_and_undoes_nothing(remote, watcher, cluster, tmp_path):
    kept = remote.push_spec(spec())
    w = git_watch(watcher, remote, tmp_path, "--interval", "1")
    w.next(applied(kept))

    remote.delete_branch()
    outcome = w.next(lambda o: o["result"] == "source-error")

    assert "the ref 'main' does not exist on the remote" in outcome["errors"][0]
    assert outcome["appliedRevision"] == kept
    sync = cluster.get(SYNCS, "demo")
    assert (condition(sync, "Stalled")["reason"], sync["status"]["revision"]) == ("RefNotFound", kept)
    assert cluster.get(POOLS, "pool-a") is not None

    back = remote.push_spec(spec(pools=TWO_POOLS))
    w.next(applied(back), timeout=40)    # the source error backed off, bounded by the interval
    assert condition(cluster.get(SYNCS, "demo"), "Ready")["status"] == "True"
    assert w.stop() == 0


def test_sighup_reconciles_now_and_reverts_drift_when_the_spec_asks(remote, watcher, cluster, tmp_path):
    first = remote.push_spec(spec())
    w = git_watch(watcher, remote, tmp_path, "--interval", "600", "--self-heal")
    w.next(applied(first))
    cluster.patch(POOLS, "pool-a", {"spec": {"gateway": "10.6.0.254"}})

    w.signal(signal.SIGHUP)
    outcome = w.next(lambda o: o["reason"] == "requested", timeout=20)

    assert outcome["counts"] == {"updated": 1}
    assert cluster.get(POOLS, "pool-a")["spec"]["gateway"] == "10.6.0.1"
    assert w.stop() == 0


def test_once_with_a_file_remote_applies_and_exits_by_the_result(remote, cli, cluster, tmp_path):
    args = ("watch", "--once", "--repo", remote.file_url, "--ref", "main", "--path", "specs",
            "--cache-dir", tmp_path / "cache")
    good = remote.push_spec(spec())
    code, out, _ = cli(*args)
    assert code == 0 and f"{good[:8]} +1 ~0 -0 applied" in out, out
    assert cluster.get(POOLS, "pool-a") is not None

    bad = remote.push_spec(spec(pools=TWO_POOLS, gateway="10.99.0.1"))
    code, out, _ = cli(*args)
    assert code == 1 and f"{bad[:8]} invalid" in out and f"{good[:8]} stays applied" in out, out
    assert "    specs/spec.yaml:10:16: spec.ippools[0].gateway:" in out

    code, out, _ = cli("status", "demo")
    assert code == 1
    assert f"Source:       {remote.file_url} at main, path specs" in out
    assert f"Attempted:    {bad} (not applied)" in out
    assert f"Last error:   revision {bad} is invalid (2 errors); revision {good} stays applied:" in out
