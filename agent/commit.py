"""WHERE AN IP IS COMMITTED: pool status updates, serialised per pool on this node, in groups.

Why it exists: a pool's allocations are one JSON string in its status, so every
allocation is a read-modify-write of the whole pool, guarded by resourceVersion.
Upstream does one status update per allocation and serialises a node's requests
per pool (§3.6). We do the same serialisation, and GROUP COMMIT on top of it:

- a request first decides on the cache to learn which pools it touches (its KEY);
- requests with the same key queue up; the first becomes the LEADER: it takes
  every queued request (up to `max_batch`), holds the per-pool locks of the key
  (sorted: a request touching two pools never deadlocks one touching one), and
  decides them one after the other on the same pool version, each seeing the
  records the previous ones took;
- the whole group goes out as ONE resourceVersion-guarded status update per pool;
  requests arriving meanwhile queue for the next one. On a 409 the leader GETs
  the pool (uncached), decides the group again and retries, with jittered backoff,
  within `attempts` and `budget`. Re-deciding is safe because the engine is
  idempotent: what an earlier round already committed comes back as HELD.

Each request keeps its own decision and its own failure: one request's
exhausted pool does not fail the others of its group. A request whose decision
moves to pools outside the key (its pool filled up meanwhile) leaves the group and
is queued again under its new key. Nothing here writes SpiderEndpoints; the
caller does that after its pools are committed.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

from agent import kube as k8s
from cni.allocation import AllocationError, Pool, PoolChange, Snapshot, StaleSnapshotError, render_status
from cni.allocation.transition import apply_change, diff

from .cache import Cache
from .logs import Log
from .metrics import AgentMetrics


class Outcome(Protocol):
    """A `Decision`, a `Release`, or any plan with pool changes."""

    pool_changes: tuple[PoolChange, ...]


Decide = Callable[[Snapshot], Any]  # Snapshot -> Outcome; raises AllocationError


class CommitError(Exception):
    """The pools could not be written (API away, retries exhausted, the write refused)."""

    def __init__(self, message: str, *, partial: bool = False):
        super().__init__(message)
        self.partial = partial  # some of this request's pool changes did reach the API


@dataclass(eq=False)
class Job:
    decide: Decide
    key: tuple[str, ...]
    purpose: str  # "allocation" | "release"
    done: bool = False
    outcome: Any = None
    error: BaseException | None = None
    rekey: bool = False
    partial: bool = False

    def finish(self, *, outcome: Any = None, error: BaseException | None = None, rekey: bool = False) -> None:
        self.outcome, self.error, self.rekey, self.done = outcome, error, rekey, True


@dataclass(eq=False)
class _Queue:
    cond: threading.Condition = field(default_factory=threading.Condition)
    pending: list[Job] = field(default_factory=list)
    leading: bool = False


class Committer:
    def __init__(self, kube: k8s.Kube, cache: Cache, *, metrics: AgentMetrics | None = None, log: Log | None = None,
                 attempts: int = 50, budget: float = 30.0, max_batch: int = 256, max_rekeys: int = 4):
        self.kube, self.cache = kube, cache
        self.metrics = metrics or AgentMetrics()
        self.log = log or Log("commit")
        self.attempts, self.budget, self.max_batch, self.max_rekeys = attempts, budget, max_batch, max_rekeys
        self._lock = threading.Lock()
        self._pool_locks: dict[str, threading.Lock] = {}
        self._queues: dict[tuple[str, ...], _Queue] = {}

    # -- the front door ---------------------------------------------------------------------------

    def commit(self, decide: Decide, *, purpose: str) -> Any:
        """Decide and commit the pool changes; -> the outcome as committed.

        Raises the engine's AllocationError (nothing was written for this request) or
        CommitError (`partial` when some pool changes of it were written: roll back).
        """
        written = False  # some pool changes of this request reached the API (under an earlier key)
        for _ in range(self.max_rekeys + 1):
            try:
                outcome = decide(self.cache.snapshot())
            except AllocationError as error:
                if written:
                    raise CommitError(str(error), partial=True) from None
                raise
            key = tuple(sorted({c.pool for c in outcome.pool_changes}))
            if not key:
                return outcome
            job = Job(decide, key, purpose, partial=written)
            self._submit(job)
            written = job.partial
            if job.error is not None:
                raise job.error
            if not job.rekey:
                return job.outcome
        raise CommitError("the pools this request needs kept changing under it; try again", partial=written)

    def _submit(self, job: Job) -> None:
        queue = self._queue(job.key)
        with queue.cond:
            queue.pending.append(job)
            while not job.done and queue.leading:
                queue.cond.wait()
            if job.done:
                return
            queue.leading = True
            others = [j for j in queue.pending if j is not job][: self.max_batch - 1]
            batch = [job] + others
            taken = set(map(id, batch))
            queue.pending = [j for j in queue.pending if id(j) not in taken]
        try:
            with self._locked(job.key):
                self._commit_group(batch, job.key)
        except Exception as error:  # noqa: BLE001 - every job of the group must get an answer
            self.log.error("group commit crashed", pools=list(job.key), error=repr(error), exc_info=True)
            for j in batch:
                if not j.done:
                    j.finish(error=CommitError(f"internal error while committing: {error!r}", partial=j.partial))
        finally:
            with queue.cond:
                queue.leading = False
                queue.cond.notify_all()

    def _queue(self, key: tuple[str, ...]) -> _Queue:
        with self._lock:
            return self._queues.setdefault(key, _Queue())

    def _locked(self, names: tuple[str, ...]) -> ExitStack:
        stack = ExitStack()
        with self._lock:
            locks = [self._pool_locks.setdefault(n, threading.Lock()) for n in sorted(names)]
        for lock in locks:
            stack.enter_context(lock)
        return stack

    # -- the leader's work -----------------------------------------------------------------------

    def _commit_group(self, batch: list[Job], key: tuple[str, ...]) -> None:
        pending = list(batch)
        base = {name: self.cache.pool(name) for name in key}
        deadline = time.monotonic() + self.budget
        attempt = 0
        while pending:
            attempt += 1
            pending = [job for job in pending if not job.done]  # a refused write answered some already
            planned, working = self._plan(pending, base, key)
            pending = [job for job, _ in planned]
            if not pending:
                return
            self.metrics.batch_size.observe(len(pending))
            failed = self._write(planned, base, working, key)
            if failed is None:
                for job, outcome in planned:
                    job.finish(outcome=outcome)
                return
            name, why = failed
            if attempt >= self.attempts or time.monotonic() >= deadline:
                for job in pending:
                    job.finish(error=CommitError(
                        f"exhaust all retries ({attempt} times), failed to update IPPool {name}: {why}",
                        partial=job.partial))
                return
            # Back off first, then re-read: the fresher the pool, the likelier the next write lands.
            time.sleep(min(0.4, 0.02 * 2 ** min(attempt, 5)) * random.random())
            base[name] = self._refresh(name) or base[name]

    def _plan(self, pending: list[Job], base: dict[str, Pool | None], key: tuple[str, ...]
              ) -> tuple[list[tuple[Job, Any]], dict[str, Pool | None]]:
        """Decide every job in turn on the same pool versions; -> (job, outcome) to write, the pools after."""
        snapshot = self.cache.snapshot()
        working = dict(base)
        planned = []
        for job in pending:
            try:
                outcome = job.decide(replace(snapshot, pools={**snapshot.pools,
                                                             **{n: p for n, p in working.items() if p}}))
            except AllocationError as error:
                job.finish(error=CommitError(str(error), partial=True) if job.partial else error)
                continue
            touched = {c.pool for c in outcome.pool_changes}
            if not touched:
                job.finish(outcome=outcome)  # an earlier round committed it all
                continue
            if not touched <= set(key):
                job.finish(rekey=True)
                continue
            try:
                trial = dict(working)
                for change in outcome.pool_changes:
                    trial[change.pool] = apply_change(trial[change.pool], change)
            except StaleSnapshotError as error:
                self.log.warning("decision does not fit its pool; deciding again", error=str(error))
                job.finish(rekey=True)
                continue
            working = trial
            planned.append((job, outcome))
        return planned, working

    def _write(self, planned: list[tuple[Job, Any]], base: dict[str, Pool | None],
               working: dict[str, Pool | None], key: tuple[str, ...]) -> tuple[str, str] | None:
        """One status update per changed pool, in key order; -> None, or (pool, why) to refresh and retry."""
        for name in key:
            before, after = base[name], working[name]
            if before is None or after is None or after is before:
                continue
            touching = [job for job, outcome in planned if any(c.pool == name for c in outcome.pool_changes)]
            purpose = touching[0].purpose if touching else "allocation"
            try:
                written = self._put_status(before, after)
            except k8s.Conflict as error:
                (self.metrics.allocation_conflicts if purpose == "allocation" else self.metrics.release_conflicts
                 ).inc(pool=name)
                self.metrics.pool_writes.inc(result="conflict")
                return name, f"409 Conflict: {error}"
            except k8s.ApiError as error:
                self.metrics.pool_writes.inc(result="error")
                self.log.warning("pool status update failed", pool=name, error=str(error))
                if not k8s.transient(error):
                    for job in touching:
                        job.finish(error=CommitError(f"cannot update IPPool {name}: {error}", partial=job.partial))
                return name, str(error)
            self.metrics.pool_writes.inc(result="ok")
            base[name] = written
            for job in touching:
                job.partial = True
        return None

    def _put_status(self, before: Pool, after: Pool) -> Pool:
        raw = self.cache.raw(k8s.POOLS, before.name)
        if raw is None:
            raise k8s.NotFound(f"SpiderIPPool {before.name} is not in the cache", status=404)
        body = {**raw, "metadata": {**raw["metadata"], "resourceVersion": before.resource_version},
                "status": render_status(before, diff(before, after))}
        answer = self.kube.replace_status(k8s.POOLS, body)
        return self.cache.offer(k8s.POOLS, answer)

    def _refresh(self, name: str) -> Pool | None:
        try:
            obj = k8s.retrying(lambda: self.kube.get(k8s.POOLS, name), budget=5.0)
        except k8s.ApiError as error:
            self.log.warning("cannot refresh pool", pool=name, error=str(error))
            return None
        if obj is None:
            self.cache.forget(k8s.POOLS, name)
            return None
        return self.cache.offer(k8s.POOLS, obj)
