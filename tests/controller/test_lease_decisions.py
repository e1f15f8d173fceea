"""Leader election decisions (agent/leasedecision.py): acquire, renew, wait, take over an expired lease."""

from __future__ import annotations

import pytest

from agent import leasedecision as ld

T = ld.Timing(lease_duration=15, renew_deadline=10, retry_period=2)
ME, OTHER = "me_1", "other_2"


def seen(holder: str, *, at: float = 100.0, duration: int = 15, transitions: int = 3) -> ld.Observation:
    return ld.Observation(ld.Record(holder, duration, "t0", "t1", transitions), "42", at)


@pytest.mark.parametrize("observation, now, action, holder, transitions", [
    (None, 0.0, "create", ME, 0),                                      # no Lease yet: we create it
    (seen(ME), 101.0, "renew", ME, 3),                                 # ours: renew, no transition
    (seen(""), 101.0, "acquire", ME, 4),                               # released on shutdown: take at once
    (seen(OTHER), 114.9, "wait", OTHER, None),                         # another holder, still fresh
    (seen(OTHER), 115.0, "acquire", ME, 4),                            # unchanged for the lease duration
    (seen(OTHER, duration=30), 125.0, "wait", OTHER, None),            # the holder's own duration counts
    (seen(OTHER, duration=0), 115.0, "acquire", ME, 4),                # no duration written: ours
], ids=["absent", "ours", "released", "fresh", "expired", "holder-duration", "no-duration"])
def test_what_a_candidate_does_about_the_lease(observation, now, action, holder, transitions):
    decision = ld.decide(observation, identity=ME, now=now, wall_now="t2", timing=T)

    assert (decision.action, decision.holder) == (action, holder)
    if transitions is None:
        assert decision.record is None
    else:
        assert decision.record.holder == ME and decision.record.transitions == transitions
        assert decision.record.renew_time == "t2" and decision.record.duration == 15


def test_renewing_keeps_the_acquire_time_and_moves_the_renew_time():
    decision = ld.decide(seen(ME), identity=ME, now=101.0, wall_now="t9", timing=T)

    assert (decision.record.acquire_time, decision.record.renew_time) == ("t0", "t9")


def test_expiry_counts_from_when_the_record_was_first_seen_unchanged_not_from_its_renew_time():
    first = ld.observe(None, record=ld.Record(OTHER, 15, "t0", "t1"), resource_version="1", now=100.0)
    same = ld.observe(first, record=ld.Record(OTHER, 15, "t0", "t1"), resource_version="1", now=110.0)
    renewed = ld.observe(same, record=ld.Record(OTHER, 15, "t0", "t5"), resource_version="2", now=112.0)

    assert same.observed_at == 100.0
    assert (renewed.observed_at, renewed.resource_version) == (112.0, "2")
    assert ld.decide(renewed, identity=ME, now=126.0, wall_now="t", timing=T).action == "wait"
    assert ld.decide(renewed, identity=ME, now=127.0, wall_now="t", timing=T).action == "acquire"


@pytest.mark.parametrize("last_renewed, now, leading", [
    (None, 0.0, False), (100.0, 105.0, True), (100.0, 109.9, True), (100.0, 110.0, False)])
def test_a_leader_stops_acting_once_it_has_not_renewed_within_the_renew_deadline(last_renewed, now, leading):
    assert ld.still_leading(last_renewed=last_renewed, now=now, timing=T) is leading


def test_a_released_lease_names_no_holder():
    assert ld.released(ld.Record(ME, 15, "t0", "t1", 2)) == ld.Record("", 1, "t0", "t1", 2)


@pytest.mark.parametrize("timing, ok", [
    (ld.Timing(), True), (ld.Timing(10, 10, 2), False), (ld.Timing(15, 2, 2), False), (ld.Timing(15, 10, 0), False)])
def test_timings_that_could_make_two_leaders_are_refused(timing, ok):
    assert (not timing.problems()) is ok
