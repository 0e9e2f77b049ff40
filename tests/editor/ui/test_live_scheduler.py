"""LivePolicy, the rules Live mode runs jobs by (plain class, clock passed in)."""

from __future__ import annotations

from editor.ui.live.scheduler import GRACE_S, MAX_WAIT_S, STROKE_UPDATE_S, LivePolicy


def test_nothing_runs_when_nothing_changed() -> None:
    policy = LivePolicy()
    policy.changed(0.0)
    assert policy.due(0.0)
    policy.submitted(1, 0.0)
    assert policy.finished(1, 0.2)
    for t in (0.3, 1.0, 10.0):
        assert not policy.due(t)


def test_one_job_in_flight_and_the_newest_state_runs_next() -> None:
    policy = LivePolicy()
    policy.changed(0.0)
    policy.submitted(1, 0.0)
    for t in (0.1, 0.2, 0.3):
        policy.changed(t)
    assert not policy.due(0.3)  # job 1 still running
    assert policy.should_cancel(settled=True)
    assert not policy.should_cancel(settled=False)  # mid-stroke: let it finish
    policy.cancel_requested()
    assert not policy.should_cancel(settled=True)  # asked once
    policy.ended(1)
    assert policy.due(0.35)
    policy.submitted(2, 0.35)
    assert policy.finished(2, 0.5)
    assert policy.shown_version == policy.version == 4


def test_a_stale_result_never_replaces_a_newer_one() -> None:
    policy = LivePolicy()
    policy.changed(0.0)
    policy.submitted(1, 0.0)
    policy.changed(0.1)
    # Job 1 ended up both cancelled and delivered (the cancel came after its last step);
    # job 2's newer result is shown first, then job 1's arrives.
    policy._job_versions[99] = 1  # a job made from the first state, still known
    policy.ended(1)
    policy.submitted(2, 0.2)
    assert policy.finished(2, 0.4)
    assert not policy.finished(99, 0.5)
    assert policy.shown_version == 2
    assert not policy.finished(12345, 0.6)  # not a live job at all


def _warmed_up(policy: LivePolicy, job_s: float) -> None:
    """The first job (it loads the model) and then one of `job_s`, both finished."""
    policy.changed(0.0)
    policy.submitted(1, 0.0)
    assert policy.finished(1, 5.0)
    policy.changed(5.0)
    policy.submitted(2, 5.0)
    assert policy.finished(2, 5.0 + job_s)


def test_slow_jobs_wait_for_a_pause_but_not_forever() -> None:
    policy = LivePolicy()
    _warmed_up(policy, 2.0)  # a 2 s job: slow
    policy.changed(8.0)
    assert not policy.due(8.0)
    assert policy.due(8.0 + GRACE_S)
    # Changes every 0.1 s never leave a pause; the job still starts after MAX_WAIT_S.
    policy.skipped()
    start = 10.0
    t = start
    while t < start + MAX_WAIT_S - 0.1:
        policy.changed(t)
        assert not policy.due(t)
        t += 0.1
    policy.changed(start + MAX_WAIT_S)
    assert policy.due(start + MAX_WAIT_S)


def test_a_short_stroke_starts_no_job_until_released() -> None:
    policy = LivePolicy()
    policy.changed(0.0)
    assert not policy.due(0.1, settled=False)
    assert policy.due(STROKE_UPDATE_S, settled=False)  # a long stroke updates
    assert policy.due(0.1, settled=True)


def test_the_first_job_loading_the_model_does_not_hold_the_next_strokes_back() -> None:
    # The first job after Live starts takes seconds (the model loads); the ones after it
    # are fast, so a stroke released just after the first result starts its job at once.
    policy = LivePolicy()
    _warmed_up(policy, 0.1)
    policy.changed(6.0)
    assert policy.due(6.0)
    # Turned off and on: the first job counts as the warm-up again.
    policy.reset()
    policy.changed(7.0)
    policy.submitted(3, 7.0)
    assert policy.finished(3, 10.0)
    policy.changed(10.5)
    assert policy.due(10.5)


def test_one_slow_job_among_fast_ones_does_not_make_live_wait() -> None:
    policy = LivePolicy()
    _warmed_up(policy, 0.1)
    for job, (start, seconds) in enumerate([(6.0, 0.1), (7.0, 3.0), (11.0, 0.1)], start=3):
        policy.changed(start)
        policy.submitted(job, start)
        assert policy.finished(job, start + seconds)
    policy.changed(12.0)
    assert policy.due(12.0)
