"""Calibration maths: examples from deals, the time-based hold-out, each criterion's evidence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from scoring.calibration import (
    DealOutcome,
    Example,
    Rate,
    auc,
    evidence,
    examples,
    holdout_split,
    tier_win_rates,
)
from scoring.model import DealStage as Stage
from scoring.result import Status

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)


def deal(domain: str, stage: Stage, created: int, closed: int | None = None) -> DealOutcome:
    closed_at = None if closed is None else DAY0 + timedelta(days=closed)
    return DealOutcome(domain, stage, DAY0 + timedelta(days=created), closed_at)


# -- examples ----------------------------------------------------------------------------------


def test_each_account_with_a_closed_deal_is_one_example_labelled_as_the_spec_says() -> None:
    found = examples(
        [
            deal("won.com", Stage.CLOSED_WON, 0, 30),
            deal("lost.com", Stage.CLOSED_LOST, 0, 20),
            deal("lost.com", Stage.CLOSED_LOST, 40, 60),
            deal("churned.com", Stage.CLOSED_WON, 0, 10),
            deal("churned.com", Stage.CHURNED, 100, 400),  # churn is anti-ICP
            deal("mixed.com", Stage.CLOSED_LOST, 0, 10),
            deal("mixed.com", Stage.CLOSED_WON, 20, 50),  # won in the end, never churned
            deal("open.com", Stage.OPEN, 0),  # no outcome yet: left out
        ]
    )
    assert {e.domain: e.good for e in found} == {
        "churned.com": False,
        "lost.com": False,
        "mixed.com": True,
        "won.com": True,
    }


def test_an_examples_date_is_its_first_close_and_its_features_date_its_first_deal() -> None:
    (example,) = examples(
        [
            deal("acme.com", Stage.OPEN, 5),
            deal("acme.com", Stage.CLOSED_LOST, 10, 40),
            deal("acme.com", Stage.CLOSED_WON, 50, 90),
        ]
    )
    assert example.closed_at == DAY0 + timedelta(days=40)
    assert example.as_of == DAY0 + timedelta(days=5)


def test_the_hold_out_is_the_most_recent_share_ties_broken_by_domain() -> None:
    day = DAY0 + timedelta(days=1)
    found = [Example(f"{c}.com", True, DAY0 + timedelta(days=n), DAY0) for n, c in enumerate("abc")]
    found += [Example("e.com", False, day, DAY0), Example("d.com", False, day, DAY0)]
    train, held = holdout_split(found, 0.4)
    assert [e.domain for e in train] == ["a.com", "b.com", "d.com"]
    assert [e.domain for e in held] == ["e.com", "c.com"]
    with pytest.raises(ValueError, match="between 0 and 1"):
        holdout_split(found, 1.0)


def test_two_examples_put_one_on_each_side() -> None:
    found = [Example(f"{c}.com", True, DAY0 + timedelta(days=n), DAY0) for n, c in enumerate("ab")]
    assert [len(side) for side in holdout_split(found, 0.1)] == [1, 1]


# -- evidence -----------------------------------------------------------------------------------


def test_a_rate_has_its_wilson_interval() -> None:
    low, high = Rate(5, 10).interval or (0.0, 0.0)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert Rate(0, 0).value is None and Rate(0, 0).interval is None


def planted(n: int, *, matched_wins: float, missed_wins: float, unknown: float, seed: int = 3):
    """A world where matching the criterion changes the odds of winning as planted."""
    rng = random.Random(seed)
    statuses, good = [], []
    for _ in range(n):
        roll = rng.random()
        status = (
            Status.UNKNOWN
            if roll < unknown
            else Status.MATCHED
            if roll < (1 + unknown) / 2
            else Status.MISSED
        )
        chance = missed_wins if status is Status.MISSED else matched_wins
        statuses.append(status)
        good.append(rng.random() < chance)
    return statuses, good


def test_a_criterion_that_separates_shows_lift_woe_and_a_strong_iv() -> None:
    statuses, good = planted(2_000, matched_wins=0.6, missed_wins=0.2, unknown=0.25)
    found = evidence(statuses, good, field="employees")
    assert found.known == pytest.approx(0.75, abs=0.03)
    assert found.matched.value == pytest.approx(0.6, abs=0.05)
    low, high = found.matched.interval or (0.0, 0.0)
    assert low < 0.6 < high and high - low < 0.1
    assert found.lift is not None and found.lift > 1.3
    assert found.woe is not None and found.woe > 0.5
    assert found.signal == "strong" and found.too_few is None


def test_a_criterion_without_signal_says_none() -> None:
    statuses, good = planted(2_000, matched_wins=0.35, missed_wins=0.35, unknown=0.1)
    found = evidence(statuses, good, field="country")
    assert found.signal == "none"
    assert found.lift == pytest.approx(1.0, abs=0.1)


def test_unknown_fields_are_left_out_and_too_few_known_is_said_in_words() -> None:
    statuses = [Status.UNKNOWN] * 50 + [Status.MATCHED] * 12 + [Status.MISSED] * 8
    good = [True] * 50 + [True] * 10 + [False, False] + [True] * 2 + [False] * 6
    found = evidence(statuses, good, field="has_revops")
    assert found.known == pytest.approx(20 / 70)
    assert (found.matched.good, found.matched.total) == (10, 12)
    assert found.too_few == (
        "12 good and 8 bad accounts have `has_revops` known: too few (at least 10 of each)"
    )
    assert found.signal == "too few"


def test_a_group_with_no_bad_account_has_a_finite_woe() -> None:
    statuses = [Status.MATCHED] * 20 + [Status.MISSED] * 20
    good = [True] * 20 + [True] * 10 + [False] * 10
    found = evidence(statuses, good, field="industry")
    assert found.woe is not None and 0 < found.woe < 10


def test_win_rates_by_tier_come_in_tier_order() -> None:
    rates = tier_win_rates(["C", "A", "DQ", "A", "B"], [False, True, False, False, True])
    assert [(r.tier, r.rate.good, r.rate.total) for r in rates] == [
        ("A", 1, 2),
        ("B", 1, 1),
        ("C", 0, 1),
        ("DQ", 0, 1),
    ]


# -- AUC ------------------------------------------------------------------------------------------


def test_auc_of_a_perfect_ranking_is_one() -> None:
    found = auc([0.9, 0.8, 0.2, 0.1], [True, True, False, False], resamples=200)
    assert found is not None and found.value == 1.0 and found.high == 1.0


def test_auc_of_a_random_ranking_is_near_a_half_inside_its_interval() -> None:
    rng = random.Random(11)
    good = [rng.random() < 0.4 for _ in range(600)]
    scores = [rng.random() for _ in good]
    found = auc(scores, good, resamples=300)
    assert found is not None
    assert abs(found.value - 0.5) < 0.07 and found.low < 0.5 < found.high
    assert found.high - found.low < 0.2


def test_auc_needs_both_outcomes() -> None:
    assert auc([0.3, 0.7], [True, True]) is None
    with pytest.raises(ValueError, match="one score per example"):
        auc([0.3], [True, False])


def test_the_fast_auc_is_scikit_learns_with_ties_counting_half() -> None:
    from sklearn.metrics import roc_auc_score

    from scoring.calibration import compare

    rng = random.Random(3)
    good = [rng.random() < 0.3 for _ in range(300)]
    current = [float(rng.randint(0, 10)) + (3 if g else 0) for g in good]  # many ties
    proposed = [float(rng.randint(0, 10)) + (5 if g else 0) for g in good]
    found = compare(current, proposed, good)
    assert found is not None
    assert found.current.value == pytest.approx(roc_auc_score(good, current))
    assert found.proposed.value == pytest.approx(roc_auc_score(good, proposed))
    assert found.gain.value == pytest.approx(found.proposed.value - found.current.value)
    assert found.gain.low < found.gain.value < found.gain.high
    assert found.gain.low > 0  # a real gain on 300 examples: the paired interval says so
