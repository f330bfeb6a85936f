"""Successive-halving planner: rungs, promotions, idempotence and a resumable state."""

import json

import pytest

from search.fidelity import SuccessiveHalving


def test_rungs_follow_eta_and_end_at_max_epochs():
    assert SuccessiveHalving(1, 27, eta=3).epochs == [1, 3, 9, 27]
    assert SuccessiveHalving(2, 20, eta=3).epochs == [2, 6, 18, 20]
    sh = SuccessiveHalving(1, 9, eta=3)
    assert sh.fidelity(0) == pytest.approx(1 / 9) and sh.fidelity(2) == 1.0


def test_best_third_is_promoted_only_when_the_rung_is_complete():
    sh = SuccessiveHalving(1, 9, eta=3)
    assert sh.add([f"a{i}" for i in range(9)]) == [(f"a{i}", 1) for i in range(9)]
    scores = {f"a{i}": s for i, s in enumerate([0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.4, 0.5, 0.6])}
    for c in list(scores)[:8]:
        sh.record(c, 0, scores[c])
    assert sh.promote(0) == []  # a8 not scored yet
    sh.record("a8", 0, scores["a8"])
    assert sh.promote(0) == [("a1", 3), ("a3", 3), ("a5", 3)]
    assert sh.promote(0) == []  # idempotent
    assert [w[0] for w in sh.waiting()] == ["a1", "a3", "a5"]
    for c, s in (("a1", 0.5), ("a3", 0.95), ("a5", 0.6)):
        sh.record(c, 1, s)
    assert sh.promote(1) == [("a3", 9)]
    sh.record("a3", 2, 0.97)
    assert sh.promote(2) == []  # last rung
    assert sh.best() == ("a3", 2, 0.97)


def test_state_round_trips_through_json_mid_rung():
    sh = SuccessiveHalving(1, 9, eta=3)
    sh.add(["x", "y", "z", "w"])
    for c, s in (("x", 0.2), ("y", 0.9), ("z", 0.5)):
        sh.record(c, 0, s)
    back = SuccessiveHalving.from_dict(json.loads(json.dumps(sh.to_dict())))
    assert back.to_dict() == sh.to_dict()
    assert back.waiting() == [("w", 0, 1)]
    back.record("w", 0, 0.1)
    assert back.promote(0) == [("y", 3)]  # max(1, 4 // 3) = 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        SuccessiveHalving(5, 2)
    with pytest.raises(ValueError):
        SuccessiveHalving(1, 9, eta=1)
    sh = SuccessiveHalving(1, 3)
    sh.add(["a"])
    with pytest.raises(ValueError):
        sh.add(["a"])
    with pytest.raises(ValueError):
        sh.record("a", 1, 0.5)  # not promoted to rung 1
    with pytest.raises(ValueError):
        sh.record("a", 0, float("nan"))


def test_top_down_ladder_ends_at_the_full_epochs_without_a_near_duplicate_rung():
    assert SuccessiveHalving.top_down(4).epochs == [2, 4]
    assert SuccessiveHalving.top_down(10).epochs == [3, 10]
    assert SuccessiveHalving.top_down(27).epochs == [3, 9, 27]
    assert SuccessiveHalving.top_down(3).epochs == [3]          # no rung of >= 2 epochs fits below it
    assert SuccessiveHalving.top_down(1).epochs == [1]
    assert SuccessiveHalving.top_down(4, min_epochs=1).epochs == [1, 4]
    sh = SuccessiveHalving.top_down(30)
    assert SuccessiveHalving.from_dict(sh.to_dict()).epochs == [3, 10, 30]


def test_asynchronous_promotion_takes_the_top_third_so_far_and_never_twice():
    sh = SuccessiveHalving.top_down(4, min_epochs=1)   # rungs 1 and 4 epochs, eta 3
    sh.add(range(7))
    promoted = []
    for c, score in enumerate([0.5, 0.9, 0.3, 0.7, 0.8, 0.1, 0.95]):
        sh.record(c, 0, score)
        promoted += sh.promote_ready()
    # after 3 scores the best (1) goes up; after 6 the top two are 1 and 4; then 6 beats everyone
    assert promoted == [(1, 1, 4), (4, 1, 4), (6, 1, 4)]
    assert sh.promote_ready() == []
    assert sh.rung_of(4) == 1 and sh.rung_of(2) == 0 and sh.rung_of(99) is None
    assert sh.fidelity(0) == 0.25 and sh.fidelity(1) == 1.0


def test_a_run_keeps_the_ladder_it_started_with():
    from qnas_edge.run.settings import SearchSettings

    new = SearchSettings(epochs=4, fidelity="auto", ladder=[2, 4])
    assert SearchSettings.from_dict(new.to_dict()).fidelity_ladder().epochs == [2, 4]
    old = SearchSettings.from_dict({**new.to_dict(), "ladder": None})   # a run stored before the ladder was
    assert old.fidelity_ladder().epochs == [1, 4]
    assert SearchSettings(epochs=4).fidelity_ladder() is None
    with pytest.raises(ValueError):
        SuccessiveHalving.from_epochs([4, 2])
