"""An https git remote behind a private CA (a self-hosted GitLab or Gitea with an internal CA), on
loopback, against the real API server: tests/watch/githttp.py serves smart HTTP over TLS with a
certificate for 127.0.0.1 signed by a CA made for the test, and asks for a token (Basic auth).

The certificate is always verified: without `--ca-file`, or with another CA's, nothing is fetched,
the token is never sent (the server sees no request at all), and the error says to give the CA."""

from __future__ import annotations

import pytest

from tests.watch.githttp import BasicAuthGit, private_ca
from tests.watch.gitremote import spec
from tests.watch.test_git_credentials import (POOLS, SYNCS, TOKEN, TWO_POOLS, assert_secret_nowhere,
                                              credentials_file, once, repo)  # noqa: F401  (repo: a fixture)

UNVERIFIED = "the server's TLS certificate could not be verified"
HINT = "if a private CA signed it, give that CA's certificate (PEM) with --ca-file (in the chart: gitSource.caBundle)"


@pytest.fixture
def pki(tmp_path):
    return private_ca(tmp_path / "pki")


@pytest.fixture
def https_git(repo, pki):
    """net.git over https (the certificate signed by `pki`), behind Basic auth: user `robot`, password TOKEN."""
    server = BasicAuthGit(repo.root, user="robot", password=TOKEN, tls=pki).start()
    yield server
    server.stop()


def stall(cluster) -> dict:
    sync = cluster.get(SYNCS, "demo")
    return next(c for c in sync["status"]["conditions"] if c["type"] == "Stalled")


def test_a_private_ca_is_trusted_only_through_ca_file(repo, https_git, pki, cli, cluster, tmp_path):
    good = repo.push_spec(spec())
    token = credentials_file(tmp_path, f"robot:{TOKEN}\n")
    assert https_git.url().startswith("https://127.0.0.1:")

    code, out, err = once(cli, https_git.url(), tmp_path, "--credentials-file", token)
    assert code == 1
    assert f"{https_git.url()} at main, path specs: {UNVERIFIED}" in out and HINT in out, (out, err)
    assert https_git.connections >= 1 and https_git.seen == []  # connected, refused the certificate, sent nothing
    assert cluster.get(POOLS, "pool-a") is None

    code, out, err = once(cli, https_git.url(), tmp_path, "--credentials-file", token, "--ca-file", pki.ca)
    assert code == 0 and f"{good[:8]} +1 ~0 -0 applied" in out, (out, err)
    assert ("POST", "/net.git/git-upload-pack", "robot") in https_git.seen
    assert cluster.get(POOLS, "pool-a") is not None
    assert_secret_nowhere(TOKEN, tmp_path, cluster, out, err)


@pytest.mark.parametrize("ca", ["none", "another-ca"])
def test_an_unverified_certificate_stalls_and_keeps_the_applied_revision(ca, repo, https_git, pki, cli, cluster,
                                                                         tmp_path):
    good = repo.push_spec(spec())
    token = credentials_file(tmp_path, f"robot:{TOKEN}\n")
    assert once(cli, https_git.url(), tmp_path, "--credentials-file", token, "--ca-file", pki.ca)[0] == 0
    repo.push_spec(spec(pools=TWO_POOLS))
    requests = len(https_git.seen)

    other = private_ca(tmp_path / "other", "Some Other CA").ca
    extra = ("--ca-file", other) if ca == "another-ca" else ()
    code, out, err = once(cli, https_git.url(), tmp_path, "--credentials-file", token, *extra)

    assert code == 1
    if ca == "another-ca":
        assert f"{UNVERIFIED} with the CA certificates in --ca-file {other} (" in out, (out, err)
        assert "); put the CA that signed it in that file" in out
    else:
        assert UNVERIFIED in out and HINT in out, (out, err)
    assert len(https_git.seen) == requests, "a request (and the token) went to an unverified server"
    condition = stall(cluster)
    assert (condition["status"], condition["reason"]) == ("True", "TLSUnverified")
    assert UNVERIFIED in condition["message"] and f"revision {good} stays applied" in condition["message"]
    sync = cluster.get(SYNCS, "demo")
    assert sync["status"]["revision"] == good and cluster.get(POOLS, "pool-b") is None
    assert_secret_nowhere(TOKEN, tmp_path, cluster, out, err)


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "no-certificate"])
def test_a_ca_file_that_cannot_be_used_is_a_clear_source_error(content, repo, https_git, cli, cluster,
                                                               tmp_path):
    repo.push_spec(spec())
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    code, out, err = once(cli, https_git.url(), tmp_path, "--credentials-file",
                          credentials_file(tmp_path, f"robot:{TOKEN}\n"), "--ca-file", ca)

    assert code == 1
    message = (f"CA file {ca}: cannot read it (FileNotFoundError)" if content is None
               else f"CA file {ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    assert message in out + err, (out, err)
    assert https_git.connections == 0, "the remote was contacted without a usable CA file"


def test_the_ca_file_is_read_again_before_each_fetch(repo, https_git, pki, tmp_path):
    from reconciler.source import GitSource, SourceError

    first = repo.push_spec(spec())
    ca = tmp_path / "mounted-ca.pem"
    ca.write_bytes(private_ca(tmp_path / "old", "The Old CA").ca.read_bytes())
    source = GitSource(https_git.url(), ref="main", path="specs", cache_dir=tmp_path / "cache",
                       credentials_file=str(credentials_file(tmp_path, f"robot:{TOKEN}\n")), ca_file=str(ca),
                       environ={})
    try:
        with pytest.raises(SourceError) as caught:
            source.snapshot()
        assert caught.value.reason == "TLSUnverified"
        ca.write_bytes(pki.ca.read_bytes())  # the ConfigMap was fixed: the next fetch uses it, no restart
        assert source.snapshot().revision == first
    finally:
        source.close()
