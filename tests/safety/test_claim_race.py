"""Two specs racing for one object: exactly one gets it, the other fails and says so (issue 8, item 2).

Specs claim-a and claim-b both declare pool shared-<i> (with different ranges) and one pool
of their own; both are applied at once. In the forced trials each apply waits after its plan
until the other has planned too, so both saw the pool absent and only the write can decide.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from .race import ClaimBed

FORCED_TRIALS = 20
FREE_TRIALS = 10


@pytest.fixture
def bed(race_server, tmp_path):
    bed = ClaimBed(race_server.kubeconfig, tmp_path)
    yield bed
    bed.close()


def check(bed: ClaimBed, i: int, outcome) -> None:
    assert len(outcome.winners) == 1, f"trial {i}: winners {outcome.winners}, losers {outcome.losers}"
    [winner], [(loser, said)] = outcome.winners, list(outcome.losers.items())
    assert outcome.owner == winner
    assert f"SpiderIPPool shared-{i}" in said and f"owned by NetworkSpec '{winner}'" in said, said
    sync = bed.network_sync(loser)
    ready = next(c for c in sync["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and f"shared-{i}" in ready["message"], ready
    assert sync["status"]["history"][0]["result"] == "Failed"


def test_of_two_applies_racing_for_one_pool_exactly_one_wins(bed):
    outcomes = []
    for i in range(FORCED_TRIALS):
        outcomes.append(bed.claim_trial(i, forced=True))
        check(bed, i, outcomes[-1])
    print(f"claim race, forced: {FORCED_TRIALS} trials, winners: {dict(Counter(o.winners[0] for o in outcomes))}")


def test_of_two_applies_started_together_exactly_one_wins(bed):
    rng = random.Random(2)
    outcomes = []
    for i in range(100, 100 + FREE_TRIALS):
        outcomes.append(bed.claim_trial(i, forced=False, jitter=0.05, rng=rng))
        check(bed, i, outcomes[-1])
    print(f"claim race, free: {FREE_TRIALS} trials, winners: {dict(Counter(o.winners[0] for o in outcomes))}")
