"""The GitOps loop: follow a source and keep the cluster at its newest valid revision.

    wake (timer | webhook | watched directory | SIGHUP)
      -> snapshot the source (git fetch, or hash the directory)
      -> schedule.decide: new revision? retry? drift check? nothing?
      -> load -> validate -> plan -> apply -> NetworkSync      (sync.reconcile, as `apply` does)
      -> report one Outcome; remember; sleep (schedule.next_wait)

A revision that does not validate is never applied: its errors (file:line, relative to the
repository) and SHA go into the NetworkSync as Stalled, and the cluster keeps the last good
revision until a new one validates. Nothing raised while reconciling ends the loop: API errors,
refused applies and unreadable sources become Outcomes and back off. A stop request (SIGTERM)
is looked at between reconciles only, so an apply that has started finishes.

`Wakeup` is how triggers reach the loop: any number of kicks while the loop is busy coalesce
into one more look at the source.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import schedule, syncstatus
from .apply import ApplyOptions, ApplyRefused
from .errors import ReconcilerError, SpecInvalid, SpecLoadError
from .loader import load_spec
from .pipeline import load_and_validate, render_valid
from .source import Snapshot, SourceError
from .sync import reconcile, record_stall

MAX_SHOWN_ERRORS = 50


@dataclass(frozen=True)
class Outcome:
    """What one look at the source came to; the CLI prints one line per Outcome."""

    result: str                      # applied | unchanged | drifted | invalid | failed | source-error
    reason: str                      # new | retry | requested | drift | poll
    revision: str | None = None
    spec: str | None = None
    seconds: float = 0.0
    plan: dict[str, int] = field(default_factory=dict)     # add / change / destroy
    counts: dict[str, int] = field(default_factory=dict)   # per object action, as apply reports
    errors: tuple[str, ...] = ()
    applied_revision: str | None = None                     # what the cluster holds after this
    retry_in: float | None = None

    @property
    def ok(self) -> bool:
        return self.result in ("applied", "unchanged", "drifted")


class Wakeup:
    """Coalescing kicks: triggers call `kick`, the loop calls `wait`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._requested = False

    def kick(self, *, requested: bool = False) -> None:
        with self._lock:
            self._requested = self._requested or requested
        self._event.set()

    def wait(self, timeout: float) -> tuple[bool, bool]:
        """(woken by a kick, a reconcile was explicitly requested)."""
        woken = self._event.wait(timeout)
        with self._lock:
            requested, self._requested = self._requested, False
            self._event.clear()
        return woken, requested


class Loop:
    def __init__(self, source, *, connect: Callable[[], object], options: ApplyOptions,
                 timing: schedule.Timing, report: Callable[[Outcome], None],
                 clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.connect = connect
        self.options = options
        self.timing = timing
        self.report = report
        self.clock = clock
        self.memory = schedule.Memory()
        self.wakeup = Wakeup()
        self.stop = threading.Event()
        self.applied_revision: str | None = None
        self.spec_name: str | None = None
        self._cluster = None
        self._last_source_error: str | None = None
        self._draining: frozenset[str] = frozenset()  # what the last apply left draining

    # -- driving -----------------------------------------------------------------------

    def run(self) -> None:
        """Until `request_stop`; every wake-up looks at the source once."""
        requested = True
        while not self.stop.is_set():
            self.step(requested=requested)
            if self.stop.is_set():
                break
            wait = schedule.next_wait(self.memory, now=self.clock(), timing=self.timing,
                                      unit_random=random.random())
            _, requested = self.wakeup.wait(wait)

    def request_stop(self) -> None:
        self.stop.set()
        self.wakeup.kick()

    def step(self, *, requested: bool = False, force: bool = False) -> Outcome | None:
        """Look at the source once; reconcile if `schedule.decide` (or `force`) says so."""
        started = self.clock()
        try:
            snapshot = self.source.snapshot()
        except SourceError as exc:
            return self._source_error(exc, started)
        except Exception as exc:  # noqa: BLE001 - the loop must outlive anything a source does
            return self._source_error(SourceError(f"reading {self.source} failed: {type(exc).__name__}: {exc}"),
                                      started)
        self._last_source_error = None
        reason = schedule.decide(self.memory, fingerprint=snapshot.fingerprint, now=started, timing=self.timing,
                                 requested=requested)
        if reason is None and force:
            reason = "requested"
        if reason is None:
            return None
        outcome = self._attempt(snapshot, reason, started)
        state = "ok" if outcome.ok else "invalid" if outcome.result == "invalid" else "failed"
        self.memory = schedule.after_attempt(self.memory, fingerprint=snapshot.fingerprint, outcome=state,
                                             now=self.clock(), timing=self.timing)
        if state == "failed":
            outcome = dataclasses.replace(outcome, retry_in=round(self.memory.retry_at - self.clock(), 1))
        if outcome.reason != "drift" or outcome.result != "unchanged":
            self.report(outcome)
        return outcome

    # -- one reconcile -----------------------------------------------------------------

    def _attempt(self, snapshot: Snapshot, reason: str, started: float) -> Outcome:
        try:
            valid = load_and_validate(snapshot.spec_path)
        except (SpecInvalid, SpecLoadError) as exc:
            return self._invalid(snapshot, reason, started, exc)
        revision = snapshot.revision or syncstatus.digest_revision(render_valid(valid))
        self.spec_name = valid.spec.name
        try:
            cluster = self._connected()
            result = reconcile(cluster, valid, path=str(snapshot.spec_path), options=self.options,
                               revision=revision, source=self.source.describe())
        except ReconcilerError as exc:
            return self._failed(snapshot, reason, started, revision, str(exc),
                                record_reason="ApplyRefused" if isinstance(exc, ApplyRefused) else "ApplyFailed")
        except Exception as exc:  # noqa: BLE001 - an unexpected error is reported and retried, never fatal
            self._cluster = None
            return self._failed(snapshot, reason, started, revision, f"{type(exc).__name__}: {exc}",
                                record_reason="ApplyFailed")
        plan = {"add": result.plan.count("create"),
                "change": result.plan.count("update") + result.plan.count("drift"),
                "destroy": result.plan.count("delete")}
        counts = {a: result.count(a) for a in ("created", "updated", "deleted", "draining", "drifted", "conflict",
                                               "failed") if result.count(a)}
        if not result.ok:
            return Outcome("failed", reason, revision, valid.spec.name, self.clock() - started, plan, counts,
                           (result.error or "some objects failed",), self.applied_revision)
        self.applied_revision = revision
        # a pool that waits for its last IPs is re-tried every pass: news only when the set waiting changes
        draining = frozenset(r.change.ref for r in result.results if r.action == "draining")
        repeated, self._draining = draining == self._draining, draining
        changed = any(counts.get(a) for a in ("created", "updated", "deleted")) or (draining and not repeated)
        outcome = "applied" if changed else "drifted" if counts.get("drifted") else "unchanged"
        if result.error:  # applied, but the NetworkSync record failed: still an error worth a retry
            return Outcome("failed", reason, revision, valid.spec.name, self.clock() - started, plan, counts,
                           (result.error,), revision)
        return Outcome(outcome, reason, revision, valid.spec.name, self.clock() - started, plan, counts,
                       applied_revision=revision)

    def _invalid(self, snapshot: Snapshot, reason: str, started: float, exc: ReconcilerError) -> Outcome:
        revision = snapshot.revision or _digest_of(snapshot.fingerprint)
        errors = _relative_errors(exc, snapshot.root)
        name = _spec_name_hint(snapshot.spec_path) or self.spec_name
        kept = self._kept(name)
        message = (f"revision {revision} is invalid ({len(errors)} error{'s' if len(errors) != 1 else ''}); {kept}:\n"
                   + "\n".join(errors[:MAX_SHOWN_ERRORS]))
        notes = self._record(name, "InvalidSpec", message, revision)
        return Outcome("invalid", reason, revision, name, self.clock() - started, errors=tuple(errors) + notes,
                       applied_revision=self.applied_revision)

    def _failed(self, snapshot: Snapshot, reason: str, started: float, revision: str, error: str, *,
                record_reason: str) -> Outcome:
        kept = self._kept(self.spec_name)
        notes = self._record(self.spec_name, record_reason, f"revision {revision} was not applied: {error}; {kept}",
                             revision)
        return Outcome("failed", reason, revision, self.spec_name, self.clock() - started, errors=(error,) + notes,
                       applied_revision=self.applied_revision)

    def _source_error(self, exc: SourceError, started: float) -> Outcome | None:
        self.memory = schedule.after_source_error(self.memory, now=self.clock(), timing=self.timing)
        message = str(exc)
        repeated = message == self._last_source_error
        self._last_source_error = message
        notes: tuple[str, ...] = ()
        if not repeated:
            self.spec_name = self.spec_name or self._sync_of_source()
            kept = self._kept(self.spec_name)
            notes = self._record(self.spec_name, exc.reason if exc.reason.isalpha() else "SourceUnavailable",
                                 f"{message}; {kept}", None)
        outcome = Outcome("source-error", "poll", None, self.spec_name, self.clock() - started, errors=(message,) + notes,
                          applied_revision=self.applied_revision,
                          retry_in=round(self.memory.retry_at - self.clock(), 1))
        if not repeated:
            self.report(outcome)
        return outcome

    def _kept(self, spec_name: str | None) -> str:
        """What stays applied, as a phrase; a loop that has applied nothing yet asks the NetworkSync."""
        if self.applied_revision is None and spec_name:
            try:
                live = self._connected().get(syncstatus.sync_object(spec_name, source_path="", prune=True,
                                                                    self_heal=False))
                self.applied_revision = ((live or {}).get("status") or {}).get("revision")
            except Exception:  # noqa: BLE001 - only for the message; the cluster may be down
                self._cluster = None
        return (f"revision {self.applied_revision} stays applied" if self.applied_revision
                else "nothing was applied")

    def _sync_of_source(self) -> str | None:
        """The NetworkSync that records this git source, for a loop that has read no spec yet (a restarted
        controller whose token was revoked meanwhile still says so where `status` looks)."""
        source = self.source.describe()
        if "repo" not in source:
            return None
        try:
            syncs = self._connected().list(syncstatus.API_VERSION, syncstatus.KIND,
                                           label_selector=f"{syncstatus.MANAGED_BY}={syncstatus.MANAGER}")
        except Exception:  # noqa: BLE001 - only for the record; the cluster may be down
            self._cluster = None
            return None
        names = [s["metadata"]["name"] for s in syncs if (s.get("spec") or {}).get("source") == source]
        return names[0] if len(names) == 1 else None

    def _record(self, spec_name: str | None, reason: str, message: str, revision: str | None) -> tuple[str, ...]:
        """Write the stall into the NetworkSync; a failure to do so is returned as a note, never raised."""
        if not spec_name:
            return ()
        try:
            record_stall(self._connected(), spec_name=spec_name, reason=reason, message=message, revision=revision,
                         source=self.source.describe())
        except Exception as exc:  # noqa: BLE001 - the record is best effort; the loop goes on
            self._cluster = None
            return (f"could not record this in NetworkSync {spec_name}: {exc}",)
        return ()

    def _connected(self):
        if self._cluster is None:
            self._cluster = self.connect()
        return self._cluster


def _relative_errors(exc: ReconcilerError, root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    if isinstance(exc, SpecInvalid):
        return [str(e).replace(prefix, "", 1) if str(e).startswith(prefix) else str(e) for e in exc.errors]
    return [str(exc).replace(prefix, "")]


def _spec_name_hint(path: Path) -> str | None:
    """The spec's metadata.name when the files at least load (a schema or rule error)."""
    try:
        name = (load_spec(path).data.get("metadata") or {}).get("name")
    except Exception:  # noqa: BLE001 - no name to be had: the caller falls back to the last known one
        return None
    return name if isinstance(name, str) and name else None


def _digest_of(fingerprint: str) -> str:
    return fingerprint if fingerprint.startswith("sha256:") else "sha256:" + fingerprint.rpartition(":")[2]
