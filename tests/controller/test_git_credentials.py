"""`spiderpool controller --credentials-file` as the chart runs it: the git Secret mounted by the
kubelet (a `..data` link swapped on update), a token over smart HTTP with Basic auth on loopback.
A revoked token is a clear stall in the NetworkSync; the rotated Secret is used without a restart.
The same over HTTPS with a private CA: its bundle mounted as the chart does, rotated the same way."""

from __future__ import annotations

from tests.controller.conftest import until
from tests.controller.test_failover import POOLS, TWO_POOLS, revision
from tests.watch.githttp import BasicAuthGit, private_ca
from tests.watch.gitremote import Remote, spec
from tests.watch.test_git_credentials import SYNCS, kubelet_secret

OLD, NEW = "ghp_old-token-for-the-controller", "ghp_new-token-for-the-controller"


def stalled(cluster):
    sync = cluster.get(SYNCS, "demo") or {}
    return next((c for c in (sync.get("status") or {}).get("conditions", [])
                 if c["type"] == "Stalled" and c["status"] == "True"), None)


def test_a_revoked_token_stalls_and_the_rotated_secret_is_used_without_a_restart(controllers, cluster, tmp_path):
    (tmp_path / "remote").mkdir()
    repo = Remote(tmp_path / "remote")
    server = BasicAuthGit(repo.root, user="robot", password=OLD).start()
    try:
        mount = tmp_path / "etc-git"
        kubelet_secret(mount, {"credentials": f"robot:{OLD}\n".encode()})
        first = repo.push_spec(spec())
        c = controllers("ctl-git", "--repo", server.url(), "--ref", "main", "--path", "specs",
                        "--credentials-file", mount / "credentials", "--interval", "1", "--no-leader-elect",
                        "--cache-dir", tmp_path / "cache", "--gc-interval", "600", "--coordinator-interval", "600")
        until(lambda: revision(cluster) == first, timeout=60, what="the first revision is applied", context=c.logs)

        server.password = NEW  # the git host revoked the old token; the Secret is not updated yet
        second = repo.push_spec(spec(pools=TWO_POOLS))
        condition = until(lambda: stalled(cluster), timeout=30, what="the NetworkSync stalls", context=c.logs)
        assert condition["reason"] == "AuthFailed"
        assert f"{server.url()} at main, path specs: the remote refused the credentials" in condition["message"]
        assert f"revision {first} stays applied" in condition["message"]

        kubelet_secret(mount, {"credentials": f"robot:{NEW}\n".encode()})
        until(lambda: revision(cluster) == second, timeout=60, what="the rotated token is used", context=c.logs)
        assert cluster.get(POOLS, "pool-b") is not None
        assert stalled(cluster) is None
        assert OLD not in c.logs() and NEW not in c.logs()
        assert c.stop() == 0
    finally:
        server.stop()


def test_an_https_remote_behind_a_private_ca_with_the_ca_mounted_and_rotated(controllers, cluster, tmp_path):
    """The CA bundle mounted as the chart mounts gitSource.caBundle (a ConfigMap key, updated by the kubelet):
    the git host's certificate is renewed by a new CA before the ConfigMap is, which stalls (TLSUnverified,
    no request sent); the updated mount is used at the next fetch, without a restart."""
    (tmp_path / "remote").mkdir()
    repo = Remote(tmp_path / "remote")
    old_ca, new_ca = private_ca(tmp_path / "old-ca", "Old Internal CA"), private_ca(tmp_path / "new-ca", "New CA")
    server = BasicAuthGit(repo.root, user="robot", password=OLD, tls=old_ca).start()
    try:
        secret, ca = tmp_path / "etc-git", tmp_path / "etc-ca"
        kubelet_secret(secret, {"credentials": f"robot:{OLD}\n".encode()})
        kubelet_secret(ca, {"ca.crt": old_ca.ca.read_bytes()})
        first = repo.push_spec(spec())
        c = controllers("ctl-git-ca", "--repo", server.url(), "--ref", "main", "--path", "specs",
                        "--credentials-file", secret / "credentials", "--ca-file", ca / "ca.crt", "--interval", "1",
                        "--no-leader-elect", "--cache-dir", tmp_path / "cache", "--gc-interval", "600",
                        "--coordinator-interval", "600")
        until(lambda: revision(cluster) == first, timeout=60, what="the first revision is applied", context=c.logs)

        server.reissue(new_ca)
        requests = len(server.seen)
        second = repo.push_spec(spec(pools=TWO_POOLS))
        condition = until(lambda: stalled(cluster), timeout=30, what="the NetworkSync stalls", context=c.logs)
        assert condition["reason"] == "TLSUnverified"
        assert (f"{server.url()} at main, path specs: the server's TLS certificate could not be verified with the "
                f"CA certificates in --ca-file {ca / 'ca.crt'}") in condition["message"]
        assert f"revision {first} stays applied" in condition["message"]
        assert len(server.seen) == requests, "a request went to the server whose certificate was not verified"

        kubelet_secret(ca, {"ca.crt": new_ca.ca.read_bytes()})
        until(lambda: revision(cluster) == second, timeout=60, what="the rotated CA is used", context=c.logs)
        assert cluster.get(POOLS, "pool-b") is not None and stalled(cluster) is None
        assert OLD not in c.logs()
        assert c.stop() == 0
    finally:
        server.stop()
