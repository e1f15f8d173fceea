"""Retries: one window per run, however many requests back off at once."""

from __future__ import annotations

import pytest

from kubeclient.errors import ApiError, Unreachable
from kubeclient.retry import RetryPolicy, RunBudget, retrying


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_run_budget_is_wall_time_from_the_first_failure_not_the_sum_of_every_backoff():
    clock = Clock()
    budget = RunBudget(clock)
    # eight requests backing off at once: each may wait, as the window is still open
    assert all(budget.take(1.0, 5.0) for _ in range(8))
    clock.now += 3.5
    assert budget.take(1.0, 5.0)        # ends at 4.5 s into the window
    assert not budget.take(2.0, 5.0)    # would end at 5.5 s: past the budget
    budget.reset()
    assert budget.take(4.0, 5.0)        # a new run opens a new window


def test_requests_sharing_a_run_budget_give_up_together_once_the_window_has_passed():
    clock = Clock()
    budget = RunBudget(clock)
    policy = RetryPolicy(budget_seconds=3.0, first_delay=0.5, max_delay=1.0, sleep=clock.sleep)
    calls = []

    def down():
        calls.append(clock.now)
        raise Unreachable("SpiderIPPool p: cannot reach the API server", reason="Unreachable")

    for _ in range(4):  # four objects of one apply, one after the other, all meeting the outage
        with pytest.raises(ApiError):
            retrying(down, policy, shared=budget)
    assert clock.now - 100.0 <= 3.0
    assert calls[-1] - calls[0] <= 3.0
    assert len(calls) >= 4
