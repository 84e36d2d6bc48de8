"""Property: any record over the shipped ICP's fields scores without error, within bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from scoring.engine import Scorer
from scoring.fields import FieldType
from scoring.model import Tier
from scoring.operators import format_value
from scoring.result import AccountScore
from scoring.serialize import summary

CONFIG = load_config(Path(__file__).resolve().parents[2] / "config")
SCORER = Scorer(CONFIG.icp)
TYPES = CONFIG.fields.types


def _scored_fields() -> list[str]:
    icp = CONFIG.icp
    conditions = [c.condition for p in icp.profiles for c in p.criteria]
    conditions += [d.condition for p in icp.profiles for d in p.disqualify]
    conditions += [d.condition for d in icp.disqualify]
    conditions += [c.condition for c in icp.persona]
    return sorted({c.field for c in conditions} | set(TYPES))


FIELDS = _scored_fields()

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.one_of(
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets),
    st.dates().map(date.isoformat),
    st.datetimes().map(datetime.isoformat),
)
numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=0, max_value=10**9).map(lambda n: f"{n:,}"),
    st.floats(min_value=0, max_value=1e9).map(str),
)
words = st.sampled_from(
    [
        "software",
        "SaaS",
        "government",
        "customer",
        "US",
        "RU",
        "hubspot",
        "LeanData",
        "yes",
        "no",
        "VP of Sales",
        "RevOps Manager",
        "Sales Intern",
        "sales-led",
        "vp",
        "",
    ]
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=30),
    words,
    moments,
    st.lists(st.one_of(words, st.text(max_size=10)), max_size=5),
    st.lists(words, max_size=5).map(";".join),
)
BY_TYPE = {
    FieldType.STRING: st.one_of(words, st.text(max_size=30)),
    FieldType.NUMBER: numbers,
    FieldType.BOOLEAN: st.one_of(st.booleans(), words),
    FieldType.DATE: moments,
    FieldType.LIST: st.one_of(st.lists(words, max_size=5), st.lists(words).map(";".join)),
}


@st.composite
def records(draw: st.DrawFn) -> dict[str, object]:
    """Some fields missing, some typed as the field wants, some anything at all."""
    record: dict[str, object] = {}
    for name in FIELDS:
        choice = draw(st.sampled_from(["missing", "typed", "typed", "anything"]))
        if choice == "typed":
            record[name] = draw(BY_TYPE[TYPES[name]])
        elif choice == "anything":
            record[name] = draw(anything)
    return record


nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(record=records(), now=nows)
def test_any_record_scores_within_bounds(record: dict[str, object], now: datetime) -> None:
    result = SCORER.score_account(record, now)
    assert 0 <= result.score <= 100
    assert 0.0 <= result.coverage <= 1.0
    if result.tier is Tier.DQ:
        assert result.disqualified_by
    else:
        assert not result.disqualified_by
        assert result.tier is CONFIG.icp.tiers.of(result.score)
    assert result.profile_id in {p.id for p in CONFIG.icp.profiles}
    for profile in result.profiles:
        assert 0 <= profile.score <= 100
        assert 0.0 <= profile.coverage <= 1.0


@settings(max_examples=300, deadline=None)
@given(record=records(), now=nows)
def test_any_contact_scores_within_bounds(record: dict[str, object], now: datetime) -> None:
    persona = SCORER.score_persona(record, now)
    assert persona is not None
    assert 0 <= persona.score <= 100
    assert 0.0 <= persona.coverage <= 1.0
    assert persona.tier is CONFIG.icp.tiers.of(persona.score)


@settings(max_examples=200, deadline=None)
@given(record=records(), now=nows)
def test_removing_a_field_never_raises_coverage(record: dict[str, object], now: datetime) -> None:
    """Coverage counts known fields: a record that knows less is never better covered."""
    full = SCORER.score_account(record, now)
    for name in list(record):
        fewer = {k: v for k, v in record.items() if k != name}
        partial = SCORER.score_account(fewer, now)
        for with_it, without in zip(full.profiles, partial.profiles, strict=True):
            assert without.coverage <= with_it.coverage + 1e-9


MEMOLESS = Scorer(CONFIG.icp, memo_size=0)


def _shown(result: AccountScore) -> tuple[object, ...]:
    """Everything a user or the CRM is shown of a score, every profile's criteria included."""
    criteria = [
        (c.id, c.status, c.points, format_value(c.value, limit=60))
        for profile in result.profiles
        for c in profile.criteria
    ]
    disqualified = [
        (d.id, d.scope, format_value(d.value, limit=60)) for d in result.disqualified_by
    ]
    return summary(result), result.reasons, criteria, disqualified


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(records(), min_size=1, max_size=6), now=nows)
def test_the_memo_only_saves_time(batch: list[dict[str, object]], now: datetime) -> None:
    """A scorer remembering every value it has seen (across examples too) scores each record
    as one that remembers none."""
    for record in batch:
        assert _shown(SCORER.score_account(record, now)) == _shown(
            MEMOLESS.score_account(record, now)
        )
