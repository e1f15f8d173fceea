"""Leader election decisions over a `coordination.k8s.io` Lease: pure, as client-go decides them.

Why it exists: two controller replicas must never both act, and the survivor must take over
soon after the leader dies. The rules (client-go's `leaderelection`), decided here over values
and the readings of two clocks handed in by the caller (`leaderelection.py` does the I/O):

    no Lease                                   -> "create"  (we hold it from now)
    we hold it                                 -> "renew"   (renewTime = now)
    nobody holds it (released on shutdown)     -> "acquire" (leaseTransitions + 1)
    another holds it, and the record has not
      changed for leaseDurationSeconds          -> "acquire" (it stopped renewing: dead or cut off)
    otherwise                                  -> "wait"

Expiry is measured on OUR monotonic clock from when we first saw the record as it is now
(`Observation.observed_at`), never from its renewTime: two nodes' wall clocks may disagree,
a monotonic interval on one node may not. Every write carries the resourceVersion it was
decided on, so of two candidates deciding at once one write wins and the other gets a 409.

Why one leader at a time: the leader gives up acting when it has not renewed for
`renew_deadline` (`still_leading`), and a standby takes over only after it has seen the same
record for `lease_duration` > `renew_deadline`; so by the time a standby acts, a leader that
could not renew has stopped — given that the two monotonic clocks run at about the same rate
and the leader's own check runs every `retry_period`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Timing:
    """client-go's defaults: LeaseDuration 15 s, RenewDeadline 10 s, RetryPeriod 2 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problems(self) -> list[str]:
        found = []
        if not self.lease_duration > self.renew_deadline:
            found.append("the lease duration must be longer than the renew deadline")
        if not self.renew_deadline > self.retry_period > 0:
            found.append("the renew deadline must be longer than the retry period, which must be positive")
        return found


@dataclass(frozen=True)
class Record:
    """The Lease's spec, as far as leader election reads and writes it."""

    holder: str = ""
    duration: int = 15
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0


@dataclass(frozen=True)
class Observation:
    """The Lease as we last read it and when (monotonic) we first saw it so."""

    record: Record
    resource_version: str
    observed_at: float


@dataclass(frozen=True)
class Decision:
    action: str                    # create | renew | acquire | wait
    record: Record | None = None   # what to write (None for wait)
    holder: str = ""               # who holds the lease as far as we know (for logs and metrics)


def observe(previous: Observation | None, *, record: Record, resource_version: str, now: float) -> Observation:
    """The new observation: `observed_at` moves only when the record changed since we last looked."""
    if previous is not None and previous.record == record:
        return replace(previous, resource_version=resource_version)
    return Observation(record, resource_version, now)


def decide(observation: Observation | None, *, identity: str, now: float, wall_now: str, timing: Timing) -> Decision:
    """What to do about the Lease seen as `observation` (None: there is none) at monotonic `now`;
    `wall_now` is the MicroTime written into acquireTime/renewTime."""
    duration = int(round(timing.lease_duration))
    if observation is None:
        return Decision("create", Record(identity, duration, wall_now, wall_now, 0), identity)
    record = observation.record
    if record.holder == identity:
        return Decision("renew", replace(record, duration=duration, renew_time=wall_now), identity)
    if record.holder and now - observation.observed_at < (record.duration or duration):
        return Decision("wait", holder=record.holder)
    return Decision("acquire", Record(identity, duration, wall_now, wall_now, record.transitions + 1), identity)


def still_leading(*, last_renewed: float | None, now: float, timing: Timing) -> bool:
    """Whether a leader that last renewed at monotonic `last_renewed` may go on acting."""
    return last_renewed is not None and now - last_renewed < timing.renew_deadline


def released(record: Record) -> Record:
    """The record a leader writes when it steps down cleanly: nobody holds it, so a standby
    acquires at once instead of waiting out the lease (client-go's ReleaseOnCancel)."""
    return replace(record, holder="", duration=1)
