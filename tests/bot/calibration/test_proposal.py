"""The proposed icp.yaml: only weights and the version change; it passes `icpbot check`."""

from __future__ import annotations

import pytest

from bot.calibration.proposal import ProposalError, proposed_text, unified_diff
from tests.support import CONFIG

TYPES = CONFIG.fields.types


def test_only_the_changed_weights_and_the_version_move() -> None:
    text = CONFIG.icp_text
    weights = {"midmarket-saas": {"revops": 25, "agency": -5}, "enterprise-salesforce": {}}
    proposed = proposed_text(text, source="icp.yaml", weights=weights, suggestions=[], types=TYPES)
    diff = unified_diff(text, proposed, current_name="a", proposed_name="b")
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")
    ]
    assert changed == [
        "-version: 7",
        "+version: 8",
        "-        weight: 10",
        "+        weight: 25",
        "-        weight: -20",
        "+        weight: -5",
    ]


def test_a_weight_in_a_flow_mapping_keeps_its_comment() -> None:
    text = CONFIG.icp_text.replace(
        """      - id: revops
        layer: operational
        field: has_revops
        equals: true
        weight: 10
        why: A RevOps owner maintains the ICP file and champions the rollout.""",
        "      - {id: revops, layer: operational, field: has_revops, equals: true, "
        "weight: 10, why: RevOps owns it}  # keep me",
    )
    proposed = proposed_text(
        text,
        source="icp.yaml",
        weights={"midmarket-saas": {"revops": 30}},
        suggestions=[],
        types=TYPES,
    )
    assert "weight: 30, why: RevOps owns it}  # keep me" in proposed


def test_a_weight_it_cannot_edit_is_named_not_guessed() -> None:
    text = CONFIG.icp_text.replace(
        "        weight: 10\n        why: A RevOps owner",
        "        weight: &ten 10\n        why: A RevOps owner",
    )
    with pytest.raises(ProposalError, match="midmarket-saas.revops: no `weight:` found"):
        proposed_text(
            text,
            source="icp.yaml",
            weights={"midmarket-saas": {"revops": 3}},
            suggestions=[],
            types=TYPES,
        )
