"""Where a spec comes from: a git remote followed at a ref, or a directory on disk.

The only module that runs git (the git CLI, through subprocess). A `GitSource` keeps one
shallow working copy per remote in a cache directory and moves it to the ref's tip:

    git init (once) -> git fetch --depth 1 <url> <ref> -> git checkout --force --detach FETCH_HEAD
                    -> git clean -ffdx

No history is needed to follow a ref, so a force-push is just another tip; a deleted ref is a
`SourceError` (reason `RefNotFound`) that leaves the working copy, and so the cluster, as they
were. The revision is the commit SHA. A `LocalSource` is a directory on disk: its revision is
HEAD when the work tree is clean (as `apply` does), else the caller's digest of the rendered
objects; its `fingerprint`, a hash of the spec files, says whether anything changed.

Secrets never reach argv, a URL git prints or `.git/config`: a password in the URL, a
`--credentials-file` (a git credential-store line, `user:token` or a bare token) or
SPIDERPOOL_GIT_TOKEN is handed to git by an inline credential helper that reads it from the
child's environment; an SSH private key file becomes `GIT_SSH_COMMAND`, checking the server's
host key against a `known_hosts` file beside the key when there is one (the git Secret's
`known_hosts` key, as Flux's), else the user's own known_hosts; an unknown host is refused,
never trusted on first use. Every message that could name a remote goes through `scrub` first.

An https remote's certificate is always verified: `--ca-file` (a private CA's certificates, PEM)
reaches git as GIT_SSL_CAINFO, read again before each fetch like the credentials file; a
certificate git cannot verify is a `SourceError` (reason `TLSUnverified`) saying to give the CA.
There is no switch to turn verification off.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import ReconcilerError
from .loader import spec_files

USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
SSH_USER = re.compile(r"(?i)\b((?:ssh|git\+ssh|ssh\+git)://)([^/@:\s]+)@")  # an ssh user is a login, never a secret
FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
DEFAULT_TOKEN_USER = "x-access-token"  # GitHub's convention; GitLab and Gitea accept any user with a token
# what git (curl with OpenSSL or GnuTLS) says when it cannot verify an https server's certificate
TLS_UNVERIFIED = ("SSL certificate problem", "server certificate verification failed",
                  "does not match target host name", "no alternative certificate subject name")
CREDENTIAL_HELPER = ('!f() { test "$1" = get || exit 0; echo "username=$SPIDERPOOL_GIT_USERNAME"; '
                     'echo "password=$SPIDERPOOL_GIT_PASSWORD"; }; f')


class SourceError(ReconcilerError):
    """The source could not be read: unreachable, ref gone, refused credentials, git failed."""

    def __init__(self, message: str, *, reason: str = "SourceUnavailable"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """A source as read once: where the spec lies now and what it is.

    `revision` is a commit SHA, or None when the caller must derive one from the rendered
    objects (a local tree with uncommitted edits); `fingerprint` changes whenever the spec may
    have; `root` is the work tree the spec sits in (error locations are shown relative to it)."""

    spec_path: Path
    root: Path
    fingerprint: str
    revision: str | None


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with URL credentials and every known secret replaced by ***."""
    text = USERINFO.sub(lambda m: m.group(0) if SSH_USER.fullmatch(m.group(0)) else f"{m.group(1)}***@", text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def clean_commit(path: str | os.PathLike) -> str | None:
    """HEAD's commit id when `path` is in a git work tree with no uncommitted changes under it."""
    target = Path(path).resolve()
    where = target if target.is_dir() else target.parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", str(target)],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if dirty.returncode != 0 or dirty.stdout.strip():
        return None
    return head.stdout.strip() or None


# -- credentials ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    ssh_key: str = ""  # path of a private key file
    known_hosts: str = ""  # path of the known_hosts file beside the key, when there is one

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()


def read_credentials(file: str | None, *, url: str, environ: dict[str, str]) -> Credentials:
    """Credentials for `url`: --credentials-file, else SPIDERPOOL_GIT_TOKEN, else the URL's own."""
    if file:
        return _credentials_file(file, url=url, environ=environ)
    if environ.get("SPIDERPOOL_GIT_TOKEN"):
        return Credentials(environ.get("SPIDERPOOL_GIT_USERNAME") or DEFAULT_TOKEN_USER,
                           environ["SPIDERPOOL_GIT_TOKEN"].strip())
    parts = urlsplit(url)
    if parts.password:
        return Credentials(unquote(parts.username or ""), unquote(parts.password))
    return Credentials()


def _read(file: str, what: str, *, reason: str) -> str:
    try:
        return Path(file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{what} {file}: cannot read it ({type(exc).__name__})", reason=reason) from None


def read_ca_file(file: str) -> str:
    """The absolute path of `file` (git runs in the working copy), once it reads as PEM certificates."""
    if "-----BEGIN CERTIFICATE-----" not in _read(file, "CA file", reason="CAFile"):
        raise SourceError(f"CA file {file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", reason="CAFile")
    return str(Path(file).absolute())


def _credentials_file(file: str, *, url: str, environ: dict[str, str]) -> Credentials:
    text = _read(file, "credentials file", reason="Credentials")
    if "PRIVATE KEY-----" in text:
        known_hosts = Path(file).parent / "known_hosts"
        return Credentials(ssh_key=str(Path(file).absolute()),
                           known_hosts=str(known_hosts.absolute()) if known_hosts.is_file() else "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise SourceError(f"credentials file {file} is empty", reason="Credentials")
    target = urlsplit(url) if "://" in url else None
    stored = [urlsplit(line) for line in lines if "://" in line]
    if stored:  # git credential-store lines: https://user:password@host[:port], only ever sent to that host
        match = next((p for p in stored if target and p.hostname == target.hostname
                      and (p.port is None or p.port == target.port)), None)
        if match is None:
            hosts = ", ".join(sorted({p.netloc.rpartition("@")[2] for p in stored}))
            raise SourceError(f"credentials file {file} has no line for {target.hostname if target else url} "
                              f"(it has {hosts})", reason="Credentials")
        return Credentials(unquote(match.username or ""), unquote(match.password or ""))
    user, sep, token = lines[0].partition(":")
    if sep and user and token:
        return Credentials(user, token)
    return Credentials(environ.get("SPIDERPOOL_GIT_USERNAME") or DEFAULT_TOKEN_USER, lines[0])


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if "://" not in url or not parts.password:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def ssh_host(url: str) -> tuple[str, int | None]:
    """The host and port an ssh:// or scp-like (user@host:path) URL connects to."""
    if "://" in url:
        parts = urlsplit(url)
        return parts.hostname or "", parts.port
    return url.partition(":")[0].rpartition("@")[2], None


# -- sources -------------------------------------------------------------------------------

class GitSource:
    """A git remote followed at a branch, tag or commit, through one shallow working copy."""

    def __init__(self, url: str, *, ref: str, path: str = ".", cache_dir: str | os.PathLike,
                 credentials: Credentials | None = None, credentials_file: str | None = None,
                 ca_file: str | None = None, environ: dict[str, str] | None = None, timeout: float = 60.0):
        """`credentials`, else those of `credentials_file` read before each fetch (a rotated token or key, a
        Secret the kubelet updated, is used at once), else `read_credentials(None, environ)`. `ca_file`: the
        CA certificates git verifies an https remote with, checked before each fetch too."""
        if not ref or ref.startswith("-"):
            raise SourceError(f"--ref {ref!r} is not a branch, tag or commit", reason="BadRef")
        relative = Path(path or ".")
        if relative.is_absolute() or ".." in relative.parts:
            raise SourceError(f"--path {path!r} must be a path inside the repository", reason="BadPath")
        self._credentials_from = (credentials_file, url, dict(environ or {})) if credentials_file else None
        if credentials is None and not credentials_file:
            credentials = read_credentials(None, url=url, environ=dict(environ or {}))
        # a credentials file is read by snapshot(): one missing or wrong is a source error there, retried
        self.credentials = credentials or Credentials()
        self.ca_file = ca_file
        self._ca_path = ""  # ca_file as read by snapshot()
        self.url = _without_password(url)
        self.ref = ref
        self.path = str(relative)
        self.timeout = timeout
        key = hashlib.sha256(f"{self.url}\0{ref}".encode()).hexdigest()[:16]  # one working copy per remote and ref
        self.work = Path(cache_dir) / key
        self._lock_file = None

    @property
    def shown_url(self) -> str:
        return scrub(self.url, self.credentials.secrets)

    def describe(self) -> dict[str, str]:
        return {"repo": self.shown_url, "ref": self.ref, "path": self.path}

    def __str__(self) -> str:
        return f"{self.shown_url} at {self.ref}" + ("" if self.path == "." else f", path {self.path}")

    def snapshot(self) -> Snapshot:
        if self._credentials_from:
            file, url, environ = self._credentials_from
            self.credentials = read_credentials(file, url=url, environ=environ)
        if self.ca_file:
            self._ca_path = read_ca_file(self.ca_file)
        self._prepare()
        if FULL_SHA.match(self.ref) and self._has_commit(self.ref):
            sha = self.ref  # a pinned commit never moves: nothing to fetch
        else:
            self._fetch()
            sha = self._git("rev-parse", "--verify", "FETCH_HEAD^{commit}").strip()
        if self._head() != sha:
            self._git("checkout", "--quiet", "--force", "--detach", sha)
        self._git("clean", "-ffdxq")
        return Snapshot(spec_path=self.work / self.path, root=self.work, fingerprint=sha, revision=sha)

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _prepare(self) -> None:
        if self._lock_file is None:
            self.work.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock = open(self.work.parent / f"{self.work.name}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                raise SourceError(f"another process is using the working copy {self.work} "
                                  "(one spiderpool watch per repository, ref and cache dir)", reason="Busy") from None
            self._lock_file = lock
        if not (self.work / ".git").is_dir():
            self._git("init", "--quiet")

    def _fetch(self) -> None:
        try:
            self._git("fetch", "--quiet", "--depth", "1", "--no-tags", "--", self.url, self.ref)
        except SourceError as exc:
            text = str(exc)
            if "couldn't find remote ref" in text or "not our ref" in text:
                raise SourceError(f"{self}: the ref {self.ref!r} does not exist on the remote (deleted, or never "
                                  "pushed); the last applied revision stays", reason="RefNotFound") from None
            if "could not read Username" in text and not self.credentials.password:
                raise SourceError(f"{self}: the remote asks for credentials and none were given (--credentials-file "
                                  "or SPIDERPOOL_GIT_TOKEN)", reason="AuthFailed") from None
            if ("Authentication failed" in text or "could not read Username" in text or "returned error: 403" in text
                    or "Permission denied (publickey" in text):
                key = f" (the SSH key {self.credentials.ssh_key})" if self.credentials.ssh_key else ""
                raise SourceError(f"{self}: the remote refused the credentials{key}", reason="AuthFailed") from None
            if "Host key verification failed" in text:
                raise SourceError(self._host_key_error(changed="IDENTIFICATION HAS CHANGED" in text),
                                  reason="HostKeyUnverified") from None
            if any(sign in text for sign in TLS_UNVERIFIED):
                raise SourceError(self._tls_error(text), reason="TLSUnverified") from None
            if "No user exists for uid" in text:
                raise SourceError(f"{self}: ssh cannot run as uid {os.getuid()}: it has no entry in /etc/passwd "
                                  "(give the image a user for it)", reason="NoSshUser") from None
            raise

    def _host_key_error(self, *, changed: bool) -> str:
        host, port = ssh_host(self.url)
        shown = f"[{host}]:{port}" if port else host
        where = (self.credentials.known_hosts or str(Path(self.credentials.ssh_key).parent / "known_hosts")
                 if self.credentials.ssh_key else "~/.ssh/known_hosts")
        scan = f"ssh-keyscan -p {port} {host}" if port else f"ssh-keyscan {host}"
        why = "it does not match the key known for it" if changed else "it is not known"
        return (f"{self}: the SSH host key of {shown} could not be verified ({why}); add its line ({scan}) to "
                f"{where}" + (" (in the chart: the git Secret's known_hosts key)" if self.credentials.ssh_key else "")
                + " after checking it out of band")

    def _tls_error(self, text: str) -> str:
        said = re.search(r"unable to access '[^']*': (.+)", text)
        why = f" ({said.group(1).strip()})" if said else ""
        if self.ca_file:
            return (f"{self}: the server's TLS certificate could not be verified with the CA certificates in "
                    f"--ca-file {self.ca_file}{why}; put the CA that signed it in that file")
        return (f"{self}: the server's TLS certificate could not be verified{why}; if a private CA signed it, "
                "give that CA's certificate (PEM) with --ca-file (in the chart: gitSource.caBundle)")

    def _has_commit(self, sha: str) -> bool:
        try:
            self._git("cat-file", "-e", f"{sha}^{{commit}}")
            return True
        except SourceError:
            return False

    def _head(self) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", "HEAD").strip() or None
        except SourceError:
            return None

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_LFS_SKIP_SMUDGE": "1"}
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)
        if self.credentials.password:
            env["SPIDERPOOL_GIT_USERNAME"] = self.credentials.username
            env["SPIDERPOOL_GIT_PASSWORD"] = self.credentials.password
        if self._ca_path:
            env["GIT_SSL_CAINFO"] = self._ca_path
        if self.credentials.ssh_key:
            env["GIT_SSH_COMMAND"] = (f"ssh -i {shlex.quote(self.credentials.ssh_key)} -o IdentitiesOnly=yes "
                                      "-o BatchMode=yes")
            if self.credentials.known_hosts:  # only these host keys: never trust a host on first use
                env["GIT_SSH_COMMAND"] += (f" -o UserKnownHostsFile={shlex.quote(self.credentials.known_hosts)} "
                                           "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes")
        return env

    def _git(self, *args: str) -> str:
        config = ["-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false", "-c", "gc.autoDetach=false"]
        if self.credentials.password:
            config += ["-c", "credential.helper=", "-c", f"credential.helper={CREDENTIAL_HELPER}"]
        command = ["git", *config, "-C", str(self.work), *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout,
                                  env=self._environment(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SourceError(f"{self}: git {args[0]} took longer than {self.timeout:.0f}s", reason="Timeout") \
                from None
        except OSError as exc:
            raise SourceError(f"cannot run git: {exc.strerror or exc}", reason="NoGit") from None
        if done.returncode != 0:
            detail = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())[-2000:]
            raise SourceError(scrub(f"{self}: git {args[0]} failed: {detail or f'exit {done.returncode}'}",
                                    self.credentials.secrets))
        return done.stdout


class LocalSource:
    """A spec file or directory on disk, read where it lies."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()

    def describe(self) -> dict[str, str]:
        return {"path": str(self.path)}

    def __str__(self) -> str:
        return str(self.path)

    def snapshot(self) -> Snapshot:
        try:
            files = spec_files(self.path)
        except ReconcilerError as exc:  # a missing path is the spec's problem, reported when it is loaded
            return Snapshot(self.path, self._root(), "missing:" + hashlib.sha256(str(exc).encode()).hexdigest(),
                            None)
        digest = hashlib.sha256()
        for file in files:
            digest.update(str(file.relative_to(self.path) if self.path.is_dir() else file.name).encode() + b"\0")
            try:
                digest.update(file.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
            digest.update(b"\0")
        return Snapshot(self.path, self._root(), "sha256:" + digest.hexdigest(), clean_commit(self.path))

    def close(self) -> None:
        pass

    def _root(self) -> Path:
        base = self.path if self.path.is_dir() else self.path.parent
        for candidate in (base, *base.parents):
            if (candidate / ".git").exists():
                return candidate
        return base
