"""fields.yaml's deal settings: the stages a team counts as churn, and what `check` says
of them and of misspelt names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from integrations.fieldmap import default_field_map, parse_field_map
from scoring.problems import ConfigError
from tests.support import ROOT, icpbot

CHURN = """
hubspot:
  deal:
    churned_stages: [Churned, 87654321]
salesforce:
  opportunity:
    churned_stages: ["Closed - Churned"]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_field_map(text, source="fields.yaml")
    return [str(p) for p in refused.value.problems]


def test_no_stage_is_churn_by_default() -> None:
    assert default_field_map().churned_stages("hubspot") == frozenset()
    fields, _ = parse_field_map("hubspot:\n  company:\n    domain: domain\n", source="f.yaml")
    assert fields.churned_stages("salesforce") == frozenset()


def test_churned_stages_are_read_per_crm_as_stage_keys() -> None:
    fields, problems = parse_field_map(CHURN, source="fields.yaml")
    assert problems == []
    assert fields.churned_stages("hubspot") == {"churned", "87654321"}  # an id read as text
    assert fields.churned_stages("salesforce") == {"closed - churned"}
    assert fields.property_for("hubspot", "company", "domain") == "domain"  # mappings intact


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "hubspot:\n  deal:\n    churned_stages: churned\n",
            "fields.yaml:3: hubspot/deal/churned_stages: must be a list of stage ids or labels",
        ),
        (
            "hubspot:\n  deal:\n    churned_stages: [churned, '', true]\n",
            "fields.yaml:3: hubspot/deal/churned_stages: must be a list of stage ids or labels",
        ),
        (
            "salesforce:\n  opportunity:\n    churn_stages: [Churned]\n",
            "fields.yaml:3: salesforce/opportunity/churn_stages: unknown setting; "
            "opportunity takes churned_stages",
        ),
        (
            "salesforce:\n  opportunity: [Churned]\n",
            "fields.yaml:2: salesforce/opportunity: must map deal settings",
        ),
        (
            "hubspot:\n  deals:\n    churned_stages: [Churned]\n",
            "fields.yaml:2: hubspot/deals: unknown object 'deals'; hubspot has company, contact, "
            "deal",
        ),
    ],
    ids=["not-a-list", "empty-or-boolean-stage", "misspelt-setting", "not-a-mapping", "plural"],
)
def test_a_bad_deal_setting_is_named_with_its_file_line_and_what_is_wrong(
    text: str, says: str
) -> None:
    found = problems_of(text)
    assert any(p.startswith(says) for p in found), found


def test_naming_the_won_stage_as_churn_is_a_warning() -> None:
    text = "salesforce:\n  opportunity:\n    churned_stages: [Closed Won]\n"
    fields, problems = parse_field_map(text, source="fields.yaml")
    (warning,) = problems
    assert warning.warning
    assert "every won deal would count as churned" in str(warning)
    assert fields.churned_stages("salesforce") == {"closed won"}


def test_icpbot_check_names_a_bad_deal_setting(tmp_path: Path) -> None:
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory, ignore=shutil.ignore_patterns("sample"))
    fields = directory / "fields.yaml"
    shipped = fields.read_text(encoding="utf-8")
    assert shipped.count("churned_stages: []") == 2  # the shipped file shows both, empty
    head, _, tail = shipped.rpartition("churned_stages: []")  # the last: Salesforce's
    fields.write_text(f"{head}churned_stages: Churned{tail}", encoding="utf-8")
    done = icpbot("check", "--config-dir", str(directory))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    text = " ".join(done.stderr.split())
    assert "fields.yaml:" in text
    assert "salesforce/opportunity/churned_stages: must be a list of stage ids or labels" in text


def test_each_misspelling_is_named_at_its_own_line_with_what_was_meant() -> None:
    text = (
        "custom:\n"
        "  sales_motion: strng\n"
        "hubspot:\n"
        "  company:\n"
        "    industy: industry\n"
        "    name:\n"
        "      proprety: name\n"
        "  deals:\n"
        "    churned_stages: [x]\n"
        "salesforc: {}\n"
    )
    assert problems_of(text) == [
        "fields.yaml:10: 'salesforc' is not a key here — did you mean 'salesforce'?",
        "fields.yaml:2: custom/sales_motion: type 'strng' is not one of string, number, "
        "boolean, date, list (did you mean 'string'?)",
        "fields.yaml:5: hubspot/company/industy: unknown canonical field (did you mean "
        "'industry'?); custom fields are declared under custom:",
        "fields.yaml:7: hubspot/company/name: 'proprety' is not a key here — did you mean "
        "'property'?",
        "fields.yaml:8: hubspot/deals: unknown object 'deals'; hubspot has company, contact, "
        "deal (did you mean 'deal'?)",
    ]
