"""schedule.py: when the loop reconciles, and why (pure: table-driven, no clock, no I/O)."""

from __future__ import annotations

import pytest

from reconciler import schedule
from reconciler.schedule import Memory, Timing

T = Timing(interval=10.0, jitter=0.1, backoff_first=1.0, backoff_max=8.0)


@pytest.mark.parametrize("memory, fingerprint, now, requested, expected", [
    (Memory(), "a", 0.0, False, "new"),
    (Memory("a", checked_at=0.0), "b", 1.0, False, "new"),
    (Memory("a", checked_at=0.0), "a", 1.0, False, None),
    (Memory("a", checked_at=0.0), "a", 9.5, False, "drift"),         # interval minus jitter reached
    (Memory("a", checked_at=0.0), "a", 1.0, True, "requested"),
    (Memory("a", invalid=True, checked_at=0.0), "a", 100.0, True, None),   # an invalid revision is never retried
    (Memory("a", invalid=True, checked_at=0.0), "b", 1.0, False, "new"),   # ... a new one is tried at once
    (Memory("a", failures=2, retry_at=5.0, checked_at=0.0), "a", 4.0, True, None),  # backing off
    (Memory("a", failures=2, retry_at=5.0, checked_at=0.0), "a", 5.0, False, "retry"),
    (Memory("a", failures=2, retry_at=50.0, checked_at=0.0), "b", 1.0, False, "new"),  # a fix skips the backoff
])
def test_decide(memory, fingerprint, now, requested, expected):
    assert schedule.decide(memory, fingerprint=fingerprint, now=now, timing=T, requested=requested) == expected


@pytest.mark.parametrize("failures, delay", [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (99, 8.0)])
def test_backoff_doubles_and_is_bounded(failures, delay):
    assert schedule.backoff(failures, T) == delay


def test_failures_count_up_on_the_same_revision_and_restart_on_a_new_one():
    memory = Memory()
    for expected in (1, 2, 3):
        memory = schedule.after_attempt(memory, fingerprint="a", outcome="failed", now=100.0, timing=T)
        assert memory.failures == expected
    assert memory.retry_at == 100.0 + 4.0
    memory = schedule.after_attempt(memory, fingerprint="b", outcome="failed", now=200.0, timing=T)
    assert (memory.failures, memory.retry_at) == (1, 201.0)
    memory = schedule.after_attempt(memory, fingerprint="b", outcome="ok", now=300.0, timing=T)
    assert memory == Memory("b", False, 0, 0.0, 300.0)


def test_an_invalid_revision_is_remembered_as_such_without_a_retry():
    memory = schedule.after_attempt(Memory(), fingerprint="a", outcome="invalid", now=5.0, timing=T)
    assert memory.invalid and memory.failures == 0


def test_a_source_error_backs_off_but_keeps_the_revision_acted_on():
    memory = Memory("a", checked_at=0.0)
    memory = schedule.after_source_error(memory, now=10.0, timing=T)
    memory = schedule.after_source_error(memory, now=11.0, timing=T)
    assert (memory.fingerprint, memory.failures, memory.retry_at) == ("a", 2, 13.0)


@pytest.mark.parametrize("memory, now, unit_random, wait", [
    (Memory("a"), 0.0, 0.0, 9.0),     # interval - 10 %
    (Memory("a"), 0.0, 0.5, 10.0),
    (Memory("a"), 0.0, 1.0, 11.0),    # interval + 10 %
    (Memory("a", failures=1, retry_at=3.0), 1.0, 0.5, 2.0),    # the retry comes before the next poll
    (Memory("a", failures=5, retry_at=60.0), 1.0, 0.5, 10.0),  # polling goes on during a long backoff
    (Memory("a", failures=1, retry_at=0.5), 1.0, 0.5, 0.0),
])
def test_next_wait(memory, now, unit_random, wait):
    assert schedule.next_wait(memory, now=now, timing=T, unit_random=unit_random) == pytest.approx(wait)


def test_the_module_reads_no_clock_and_does_no_io():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(schedule))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses"}, imported
