"""Git sources against real remotes on loopback (git daemon and file://), and local directories."""

from __future__ import annotations

import pytest

from reconciler.source import Credentials, GitSource, LocalSource, SourceError, read_credentials, scrub
from tests.watch.gitremote import spec


@pytest.fixture
def source_for(tmp_path):
    made = []

    def make(url, **kw):
        kw.setdefault("ref", "main")
        kw.setdefault("path", "specs")
        made.append(GitSource(url, cache_dir=tmp_path / "cache", **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("url_of", [lambda r: r.git_url, lambda r: r.file_url], ids=["git-daemon", "file"])
def test_a_branch_is_followed_push_after_push(remote, source_for, url_of):
    first = remote.push_spec(spec())
    source = source_for(url_of(remote))
    snap = source.snapshot()
    assert (snap.revision, snap.fingerprint) == (first, first)
    assert (snap.spec_path / "spec.yaml").read_text() == spec()

    second = remote.push_spec(spec(pools={"pool-b": "10.6.168.70"}))
    snap = source.snapshot()
    assert snap.revision == second
    assert "pool-b" in (snap.spec_path / "spec.yaml").read_text()
    assert (source.work / ".git" / "shallow").is_file()   # fetched with --depth 1


def test_a_force_push_moves_the_working_copy_to_the_new_tip(remote, source_for):
    remote.push_spec(spec())
    doomed = remote.push_spec(spec(pools={"pool-b": "10.6.168.70"}))
    source = source_for(remote.git_url)
    assert source.snapshot().revision == doomed
    rewritten = remote.force_push_spec(spec(pools={"pool-c": "10.6.168.71"}))
    snap = source.snapshot()
    assert snap.revision == rewritten != doomed
    assert "pool-c" in (snap.spec_path / "spec.yaml").read_text()


def test_a_deleted_ref_is_a_clear_error_and_the_working_copy_stays(remote, source_for):
    kept = remote.push_spec(spec())
    source = source_for(remote.git_url)
    source.snapshot()
    remote.delete_branch()
    with pytest.raises(SourceError) as caught:
        source.snapshot()
    assert caught.value.reason == "RefNotFound"
    assert "'main' does not exist on the remote" in str(caught.value)
    assert (source.work / "specs" / "spec.yaml").read_text() == spec()
    remote.push()
    assert source.snapshot().revision == kept


def test_a_tag_and_a_full_commit_sha_can_be_the_ref(remote, source_for):
    tagged = remote.push_spec(spec())
    remote.tag("v1")
    remote.push_spec(spec(pools={"pool-b": "10.6.168.70"}))
    assert source_for(remote.git_url, ref="v1").snapshot().revision == tagged
    pinned = source_for(remote.git_url, ref=tagged)
    assert pinned.snapshot().revision == tagged
    assert pinned.snapshot().revision == tagged   # the second time from the working copy


def test_an_unreachable_remote_is_a_source_error(source_for, tmp_path):
    with pytest.raises(SourceError) as caught:
        source_for((tmp_path / "nothing.git").as_uri()).snapshot()
    assert caught.value.reason == "SourceUnavailable"


@pytest.mark.parametrize("path", ["../outside", "/etc", "specs/../../x"])
def test_a_path_outside_the_repository_is_refused(source_for, path):
    with pytest.raises(SourceError, match="inside the repository"):
        source_for("file:///x.git", path=path)


def test_two_watchers_cannot_share_a_working_copy(remote, source_for):
    remote.push_spec(spec())
    source_for(remote.git_url).snapshot()
    with pytest.raises(SourceError, match="another process is using the working copy"):
        source_for(remote.git_url).snapshot()


def test_a_password_in_the_url_never_reaches_argv_config_or_messages(source_for, tmp_path):
    from tests.watch.gitremote import free_port

    source = source_for(f"https://robot:tok-very-secret@127.0.0.1:{free_port()}/net.git")
    assert "tok-very-secret" not in source.url
    assert source.credentials == Credentials("robot", "tok-very-secret")
    with pytest.raises(SourceError) as caught:
        source.snapshot()
    assert "tok-very-secret" not in str(caught.value)
    assert "tok-very-secret" not in (source.work / ".git" / "config").read_text()
    assert "tok-very-secret" not in str(source.describe())


@pytest.mark.parametrize("content, environ, expected", [
    ("https://robot:p%40ss@git.example.com\n", {}, Credentials("robot", "p@ss")),
    ("https://a:1@other.example\nhttps://b:2@git.example.com\n", {}, Credentials("b", "2")),
    ("robot:tok\n", {}, Credentials("robot", "tok")),
    ("ghp_abc123\n", {}, Credentials("x-access-token", "ghp_abc123")),
    ("glpat-xyz", {"SPIDERPOOL_GIT_USERNAME": "oauth2"}, Credentials("oauth2", "glpat-xyz")),
])
def test_a_credentials_file(tmp_path, content, environ, expected):
    file = tmp_path / "creds"
    file.write_text(content)
    assert read_credentials(str(file), url="https://git.example.com/net.git", environ=environ) == expected


def test_an_ssh_key_file_becomes_the_ssh_command(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    creds = read_credentials(str(key), url="ssh://git@host/x.git", environ={})
    assert creds == Credentials(ssh_key=str(key))
    env = GitSource("ssh://git@host/x.git", ref="main", cache_dir=tmp_path, credentials=creds)._environment()
    assert env["GIT_SSH_COMMAND"].startswith(f"ssh -i {key} ")
    assert "KnownHostsFile" not in env["GIT_SSH_COMMAND"]  # the user's own known_hosts, as ssh reads it

    (tmp_path / "known_hosts").write_text("host ssh-ed25519 AAAA\n")
    creds = read_credentials(str(key), url="ssh://git@host/x.git", environ={})
    assert creds == Credentials(ssh_key=str(key), known_hosts=str(tmp_path / "known_hosts"))
    env = GitSource("ssh://git@host/x.git", ref="main", cache_dir=tmp_path, credentials=creds)._environment()
    assert env["GIT_SSH_COMMAND"].endswith(f"-o UserKnownHostsFile={tmp_path / 'known_hosts'} "
                                           "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes")


def test_a_token_from_the_environment():
    creds = read_credentials(None, url="https://h/x.git", environ={"SPIDERPOOL_GIT_TOKEN": "t0k"})
    assert creds == Credentials("x-access-token", "t0k")


@pytest.mark.parametrize("text, secrets, shown", [
    ("fatal: unable to access 'https://u:pw@h/x.git/'", (), "fatal: unable to access 'https://***@h/x.git/'"),
    ("token t0ken-123 leaked", ("t0ken-123",), "token *** leaked"),
    ("git@github.com:org/repo.git", (), "git@github.com:org/repo.git"),
    ("ssh://git@github.com:22/org/repo.git", (), "ssh://git@github.com:22/org/repo.git"),  # a login, not a secret
    ("ssh://git:pw@github.com/org/repo.git", (), "ssh://***@github.com/org/repo.git"),
    ("https://ghp_tok3n@github.com/org/repo.git", (), "https://***@github.com/org/repo.git"),  # a token as user
])
def test_scrub(text, secrets, shown):
    assert scrub(text, secrets) == shown


def test_a_local_directory_changes_fingerprint_with_its_spec_files_only(tmp_path):
    (tmp_path / "spec.yaml").write_text(spec())
    source = LocalSource(tmp_path)
    first = source.snapshot()
    assert first.revision is None and first.fingerprint.startswith("sha256:")
    (tmp_path / "notes.txt").write_text("not a spec file")
    assert source.snapshot().fingerprint == first.fingerprint
    (tmp_path / "spec.yaml").write_text(spec(pools={"pool-b": "10.6.168.70"}))
    assert source.snapshot().fingerprint != first.fingerprint


def test_an_unverified_host_key_of_an_scp_like_remote_names_the_line_to_add(tmp_path):
    source = GitSource("git@github.com:org/net.git", ref="main", cache_dir=tmp_path,
                       credentials=Credentials(ssh_key="/etc/spiderpool-gitops/git/credentials"))
    assert source._host_key_error(changed=False).endswith(
        "the SSH host key of github.com could not be verified (it is not known); add its line (ssh-keyscan "
        "github.com) to /etc/spiderpool-gitops/git/known_hosts (in the chart: the git Secret's known_hosts key) "
        "after checking it out of band")
