"""Prune never takes a pool's live allocations with it, whatever the timing (issue 8, item 1).

Each trial applies a spec with pool a<i>, then a spec without it while pod p<i> is ADDed
from a<i> inside one of the race windows of the prune (race.WINDOWS). Whatever the
outcome of the ADD, the invariant is checked in the trial: an address handed out is
still held by an existing pool, and re-applying the pool never gives it to a second pod.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from .race import WINDOWS, PruneBed

TRIALS_PER_WINDOW = 20


@pytest.fixture
def bed(race_server, tmp_path, sock_dir):
    bed = PruneBed(race_server.kubeconfig, tmp_path, sock_dir)
    yield bed
    bed.close()


@pytest.mark.parametrize("window", WINDOWS)
def test_a_pool_never_loses_an_allocation_made_while_it_is_pruned(bed, race_server, window):
    if window == "jitter" and race_server.faults is not None:
        race_server.faults.configure(slow_rate=1.0, slow_seconds=0.03, verbs={"delete", "update", "patch"})
    rng = random.Random(8)
    outcomes = [bed.prune_trial(i, window, rng=rng) for i in range(TRIALS_PER_WINDOW)]
    tally = Counter((o.add_ok, o.pool_state) for o in outcomes)
    print(f"prune race, window {window}: {TRIALS_PER_WINDOW} trials, (ADD ok, pool state): {dict(tally)}")
    if window in ("plan->prune", "read->delete"):
        # the ADD landed before the delete could: the pool must be kept, draining, with the IP
        assert all(o.add_ok and o.pool_state == "kept" and o.actions["a%d" % i] == "draining"
                   for i, o in enumerate(outcomes)), outcomes
    if window == "delete->release":
        # the pool is terminating: the agent refuses it, and nothing was lost
        assert not any(o.add_ok for o in outcomes), outcomes
