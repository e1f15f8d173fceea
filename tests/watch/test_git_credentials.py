"""The git source's credentials end to end, on loopback, against the real API server: a token over
smart HTTP with Basic auth (tests/watch/githttp.py, `git http-backend` behind a 401) and an SSH
deploy key against a real sshd (tests/watch/gitssh.py). The secret must reach the server and
nowhere else: not the output, the NetworkSync, the working copy's .git/config or git's argv."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.watch.conftest import applied
from tests.watch.githttp import BasicAuthGit
from tests.watch.gitremote import Remote, spec
from tests.watch.gitssh import SshGit, skip_reason

POOLS = "spiderippools.spiderpool.spidernet.io"
SYNCS = "networksyncs.gitops.spidernet.io"
TOKEN = "ghp_t0ken-for-the-tests"
TWO_POOLS = {"pool-a": "10.6.168.60-10.6.168.69", "pool-b": "10.6.168.70-10.6.168.79"}


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "remote"
    root.mkdir()
    return Remote(root)


@pytest.fixture
def http_git(repo):
    """net.git behind Basic auth: user `robot`, password TOKEN."""
    server = BasicAuthGit(repo.root, user="robot", password=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def git_argv(tmp_path, monkeypatch):
    """A `git` first on PATH that logs its argv, one JSON list a line, then runs the real git."""
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "git-argv.log"
    real = next(p for p in (Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep)) if p.is_file())
    (shim / "git").write_text(f"#!/usr/bin/python3\nimport json, os, sys\n"
                              f"open({str(log)!r}, 'a').write(json.dumps(sys.argv) + '\\n')\n"
                              f"os.execv({str(real)!r}, [{str(real)!r}] + sys.argv[1:])\n")
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    return log


def once(cli, url, tmp_path, *extra):
    return cli("watch", "--once", "--repo", url, "--ref", "main", "--path", "specs", "--cache-dir",
               tmp_path / "cache", *extra)


def assert_secret_nowhere(secret, tmp_path, cluster, *texts):
    for text in texts:
        assert secret not in text, text
    sync = cluster.get(SYNCS, "demo")
    assert sync is None or secret not in json.dumps(sync)
    configs = list((tmp_path / "cache").glob("*/.git/config"))
    assert configs, "no working copy"
    for config in configs:
        assert secret not in config.read_text()


def credentials_file(tmp_path, text: str) -> Path:
    file = tmp_path / "git-credentials"
    file.write_text(text)
    file.chmod(0o600)
    return file


# -- HTTPS-style smart HTTP with a token -------------------------------------------------------

@pytest.mark.parametrize("content", [
    f"robot:{TOKEN}\n",
    f"https://robot:{TOKEN}@127.0.0.1\n",
    f"https://someone:other-token@git.example.com\nhttps://robot:{TOKEN}@127.0.0.1\n",
], ids=["user-token", "credential-store", "credential-store-second-host"])
def test_a_token_in_a_credentials_file_is_sent_over_http_and_never_shown(content, repo, http_git, cli, cluster,
                                                                         tmp_path, git_argv):
    good = repo.push_spec(spec())
    code, out, err = once(cli, http_git.url(), tmp_path, "--credentials-file", credentials_file(tmp_path, content))

    assert code == 0 and f"{good[:8]} +1 ~0 -0 applied" in out, (out, err)
    assert cluster.get(POOLS, "pool-a") is not None
    assert ("POST", "/net.git/git-upload-pack", "robot") in http_git.seen
    assert cluster.get(SYNCS, "demo")["spec"]["source"]["repo"] == http_git.url()
    assert_secret_nowhere(TOKEN, tmp_path, cluster, out, err, git_argv.read_text())


def test_a_token_from_the_environment_with_the_default_user(repo, cli, cluster, tmp_path, monkeypatch):
    server = BasicAuthGit(repo.root, user="x-access-token", password=TOKEN).start()
    try:
        monkeypatch.setenv("SPIDERPOOL_GIT_TOKEN", TOKEN)
        good = repo.push_spec(spec())
        code, out, err = once(cli, server.url(), tmp_path)
    finally:
        server.stop()
    assert code == 0 and f"{good[:8]} +1 ~0 -0 applied" in out, (out, err)
    assert ("POST", "/net.git/git-upload-pack", "x-access-token") in server.seen
    assert_secret_nowhere(TOKEN, tmp_path, cluster, out, err)


def test_a_password_in_the_url_is_used_and_never_shown(repo, http_git, cli, cluster, tmp_path, git_argv):
    good = repo.push_spec(spec())
    url = http_git.url().replace("http://", f"http://robot:{TOKEN}@")
    code, out, err = once(cli, url, tmp_path)

    assert code == 0 and f"{good[:8]} +1 ~0 -0 applied" in out, (out, err)
    assert cluster.get(SYNCS, "demo")["spec"]["source"]["repo"] == http_git.url()  # the user went with the password
    assert_secret_nowhere(TOKEN, tmp_path, cluster, out, err, git_argv.read_text())


def test_a_refused_token_is_a_clear_stall_that_keeps_the_applied_revision(repo, http_git, cli, cluster, tmp_path):
    good = repo.push_spec(spec())
    assert once(cli, http_git.url(), tmp_path, "--credentials-file",
                credentials_file(tmp_path, f"robot:{TOKEN}"))[0] == 0
    repo.push_spec(spec(pools=TWO_POOLS))

    wrong = "ghp_revoked-token-value"
    code, out, err = once(cli, http_git.url(), tmp_path, "--credentials-file",
                          credentials_file(tmp_path, f"robot:{wrong}"))

    assert code == 1
    assert f"{http_git.url()} at main, path specs: the remote refused the credentials" in out, (out, err)
    sync = cluster.get(SYNCS, "demo")
    stalled = next(c for c in sync["status"]["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "AuthFailed")
    assert "the remote refused the credentials" in stalled["message"]
    assert sync["status"]["revision"] == good and cluster.get(POOLS, "pool-b") is None
    assert_secret_nowhere(wrong, tmp_path, cluster, out, err)


def test_no_credentials_for_a_private_remote_says_which_to_give(repo, http_git, cli, cluster, tmp_path):
    repo.push_spec(spec())
    code, out, err = once(cli, http_git.url(), tmp_path)
    assert code == 1
    assert "the remote asks for credentials and none were given (--credentials-file or SPIDERPOOL_GIT_TOKEN)" \
        in out, (out, err)


def test_a_credential_store_without_a_line_for_the_host_sends_nothing(repo, http_git, cli, cluster, tmp_path):
    repo.push_spec(spec())
    file = credentials_file(tmp_path, f"https://robot:{TOKEN}@git.example.com\n")
    code, out, err = once(cli, http_git.url(), tmp_path, "--credentials-file", file)

    assert code == 1
    assert f"credentials file {file} has no line for 127.0.0.1 (it has git.example.com)" in out + err, (out, err)
    assert all(user == "" for _, _, user in http_git.seen)  # the other host's token never went out
    assert TOKEN not in out + err


def test_watch_follows_pushes_over_authenticated_http(repo, http_git, watcher, cluster, tmp_path):
    first = repo.push_spec(spec())
    w = watcher("--repo", http_git.url(), "--ref", "main", "--path", "specs", "--cache-dir", tmp_path / "cache",
                "--interval", "1", "--credentials-file", credentials_file(tmp_path, f"robot:{TOKEN}"))
    w.next(applied(first))
    second = repo.push_spec(spec(pools=TWO_POOLS))
    assert w.next(applied(second))["plan"] == {"add": 1, "change": 0, "destroy": 0}
    assert cluster.get(POOLS, "pool-b") is not None
    assert w.stop() == 0
    assert TOKEN not in json.dumps(w.outcomes) + "".join(w.stderr)


def test_watch_waits_for_a_credentials_file_that_is_not_there_yet(repo, http_git, watcher, cluster, tmp_path):
    first = repo.push_spec(spec())
    file = tmp_path / "later" / "credentials"
    w = watcher("--repo", http_git.url(), "--ref", "main", "--path", "specs", "--cache-dir", tmp_path / "cache",
                "--interval", "1", "--credentials-file", file)
    error = w.next(lambda o: o["result"] == "source-error")
    assert f"credentials file {file}: cannot read it (FileNotFoundError)" in error["errors"][0]

    file.parent.mkdir()
    credentials_file(tmp_path, f"robot:{TOKEN}").rename(file)
    w.next(applied(first), timeout=40)  # the retry backs off, bounded by the interval
    assert w.stop() == 0


# -- SSH with a deploy key ---------------------------------------------------------------------

@pytest.fixture
def ssh_git(repo):
    reason = skip_reason()
    if reason and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the SSH tests must run under CI (.ci/run installs openssh-server, as root): {reason}")
    if reason:
        pytest.skip(reason)
    server = SshGit(repo.root).start()
    yield server
    server.stop()


def secret_dir(tmp_path, key: Path, known_hosts: str | None) -> Path:
    """The git Secret as the chart mounts it: the key as `credentials`, beside it `known_hosts`."""
    mounted = tmp_path / "git-secret"
    mounted.mkdir()
    (mounted / "credentials").write_bytes(key.read_bytes())
    (mounted / "credentials").chmod(0o400)
    if known_hosts is not None:
        (mounted / "known_hosts").write_text(known_hosts)
    return mounted / "credentials"


def test_a_deploy_key_with_known_hosts_applies_over_ssh(repo, ssh_git, cli, cluster, tmp_path):
    good = repo.push_spec(spec())
    key = secret_dir(tmp_path, ssh_git.key, ssh_git.known_hosts)
    code, out, err = once(cli, ssh_git.url(repo.bare), tmp_path, "--credentials-file", key)

    assert code == 0 and f"{good[:8]} +1 ~0 -0 applied" in out, (out, err, ssh_git.log.read_text()[-2000:])
    assert cluster.get(POOLS, "pool-a") is not None
    assert "Accepted publickey for root" in ssh_git.log.read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o400


def test_a_key_the_server_does_not_know_is_refused_clearly(repo, ssh_git, cli, cluster, tmp_path):
    repo.push_spec(spec())
    key = secret_dir(tmp_path, ssh_git.other_key(), ssh_git.known_hosts)
    code, out, err = once(cli, ssh_git.url(repo.bare), tmp_path, "--credentials-file", key)

    assert code == 1
    assert f"the remote refused the credentials (the SSH key {key})" in out, (out, err)


@pytest.mark.parametrize("known_hosts", [None, "[127.0.0.1]:{port} ssh-ed25519 "
                                               "AAAAC3NzaC1lZDI1NTE5AAAAIDbJDcdWBi9fTnbfs7FqUw5IkJ3ps8sBu6rK2lp6xcnv\n"],
                         ids=["unknown", "changed"])
def test_an_unverified_host_key_is_refused_and_says_what_to_add(known_hosts, repo, ssh_git, cli, cluster, tmp_path):
    repo.push_spec(spec())
    key = secret_dir(tmp_path, ssh_git.key, known_hosts and known_hosts.format(port=ssh_git.port))
    code, out, err = once(cli, ssh_git.url(repo.bare), tmp_path, "--credentials-file", key)

    assert code == 1
    assert f"the SSH host key of [127.0.0.1]:{ssh_git.port} could not be verified" in out, (out, err)
    assert f"add its line (ssh-keyscan -p {ssh_git.port} 127.0.0.1) to {key.parent / 'known_hosts'}" in out
    assert cluster.get(POOLS, "pool-a") is None
    assert "Accepted publickey" not in ssh_git.log.read_text()  # the key was never offered to an unverified host


# -- the source on its own: rotation, messages ---------------------------------------------------

def kubelet_secret(mount: Path, files: dict[str, bytes]) -> None:
    """Write `files` into `mount` as the kubelet updates a Secret volume: a new timestamped directory,
    `..data` swapped to it atomically, each key a symlink through `..data`, the old directory removed."""
    mount.mkdir(exist_ok=True)
    old = os.readlink(mount / "..data") if (mount / "..data").is_symlink() else None
    fresh = mount / f"..2026_{os.urandom(4).hex()}"
    fresh.mkdir()
    for name, content in files.items():
        (fresh / name).write_bytes(content)
        (fresh / name).chmod(0o400)
        if not (mount / name).is_symlink():
            (mount / name).symlink_to(Path("..data") / name)
    (mount / "..data_tmp").symlink_to(fresh.name)
    os.replace(mount / "..data_tmp", mount / "..data")
    if old:
        for file in (mount / old).iterdir():
            file.unlink()
        (mount / old).rmdir()


def git_source(url, tmp_path, file):
    from reconciler.source import GitSource

    return GitSource(url, ref="main", path="specs", cache_dir=tmp_path / "cache", credentials_file=str(file),
                     environ={})


def test_a_rotated_token_in_a_secret_mount_is_used_at_the_next_fetch(repo, http_git, tmp_path):
    first = repo.push_spec(spec())
    mount = tmp_path / "git-secret"
    kubelet_secret(mount, {"credentials": f"robot:{TOKEN}\n".encode()})
    source = git_source(http_git.url(), tmp_path, mount / "credentials")
    try:
        assert source.snapshot().revision == first
        http_git.password = "ghp_the-rotated-token"
        kubelet_secret(mount, {"credentials": b"robot:ghp_the-rotated-token\n"})
        second = repo.push_spec(spec(pools=TWO_POOLS))
        assert source.snapshot().revision == second
    finally:
        source.close()


def test_a_rotated_deploy_key_in_a_secret_mount_is_used_at_the_next_fetch(repo, ssh_git, tmp_path):
    first = repo.push_spec(spec())
    mount = tmp_path / "git-secret"
    kubelet_secret(mount, {"credentials": ssh_git.key.read_bytes(), "known_hosts": ssh_git.known_hosts.encode()})
    source = git_source(ssh_git.url(repo.bare), tmp_path, mount / "credentials")
    try:
        assert source.snapshot().revision == first
        new_key = ssh_git.other_key()
        (ssh_git.dir / "authorized_keys").write_text(Path(f"{new_key}.pub").read_text())
        kubelet_secret(mount, {"credentials": new_key.read_bytes(), "known_hosts": ssh_git.known_hosts.encode()})
        second = repo.push_spec(spec(pools=TWO_POOLS))
        assert source.snapshot().revision == second
    finally:
        source.close()


def test_a_missing_repository_on_a_port_with_403_in_it_is_not_a_credentials_error(repo, tmp_path):
    from reconciler.source import SourceError

    for port in [*range(40300, 40400), *range(14030, 14040), *range(24030, 24040)]:
        try:
            server = BasicAuthGit(repo.root, user="robot", password=TOKEN, port=port).start()
            break
        except OSError:
            continue
    else:
        pytest.skip("no free port with 403 in it")
    source = git_source(server.url("missing.git"), tmp_path, credentials_file(tmp_path, f"robot:{TOKEN}"))
    try:
        with pytest.raises(SourceError) as caught:
            source.snapshot()
    finally:
        source.close()
        server.stop()
    assert caught.value.reason != "AuthFailed", caught.value
    assert "not found" in str(caught.value)
