"""Explanations in words: what moved between two scorings of one record."""

from __future__ import annotations

from scoring.engine import Scorer
from scoring.explain import status_changes
from tests.scoring.support import NOW, flags_icp, flags_record


def test_each_moved_criterion_is_named_with_its_rule_and_value() -> None:
    scorer = Scorer(flags_icp({"a": 10, "b": 20, "c": 30}))
    before = scorer.score_account(flags_record({"a": True, "b": False, "c": True}), NOW)
    after = scorer.score_account(flags_record({"a": False, "b": True, "c": None}), NOW)
    changes = status_changes((before, None), (after, None))
    assert [c.split(" (")[0] for c in changes] == [
        "a no longer matches",
        "b now matches",
        "c is now unknown",
    ]
    assert all(", got " in c for c in changes)
    assert status_changes((before, None), (before, None)) == []
