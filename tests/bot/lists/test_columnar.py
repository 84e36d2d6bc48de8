"""The columnar path scores a list as the per-record engine does: random ICPs, messy rows.

The engine reads each row as `icpbot score` always has (the CSV reader's
typing, row by row, `Scorer`); the columnar path reads the same file on
DuckDB. Every row's verdict, its criteria, its reasons and every bad row's
error must agree.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.lists.columnar import Output, open_source, score_list
from integrations.csv import read_rows
from integrations.records import RecordKind
from scoring.engine import Scorer
from scoring.model import Icp
from scoring.serialize import summary
from tests.scoring.support import FIELDS, NOW
from tests.scoring.test_sql import COLUMNS, VALUES, icps

# Cells as exports write them: every shape the SQL reads alone, and many it hands over.
MESSY: Mapping[str, st.SearchStrategy[str]] = {
    **VALUES,
    "domain": st.sampled_from(
        [
            "acme.com",
            "Acme.COM",
            "www.acme.co.uk",
            "acme.co.uk",
            "https://www.Acme.com/pricing",
            "shop.github.io",
            "github.io",
            "co.uk",
            "nope",
            "",
            "  ",
            "a.b.c.example.com",
            "x.ck",
            "www.ck",
            "münchen.de",
            " acme.com ",
            "-x-.io",
        ]
    ),
    "employees": st.sampled_from(
        ["10", "200", "1,200", "800", "$5000", "abc", "", "799.5", "-5", "1e3", " 300 ", "inf"]
    ),
    "country": st.sampled_from(["US", "GB", "DE", "", "ca", "United Kingdom", "UK", "Narnia"]),
    "technologies": st.sampled_from(
        ["hubspot", "HubSpot; slack", "salesforce;gong", ";", "", "slack ;  zoominfo", "\thubspot"]
    ),
    "has_revops": st.sampled_from(["yes", "no", "true", "0", "maybe", "", "TRUE", " y "]),
    "industry": st.sampled_from(
        ["software", "SaaS", " Internet ", "government", "retail", "", "\u00a0software", "é"]
    ),
}
HEADER = ("domain", *COLUMNS)
rows = st.lists(
    st.one_of(
        st.fixed_dictionaries({name: MESSY[name] for name in HEADER}),
        st.just(dict.fromkeys(HEADER, "")),  # a blank row: skipped without a word
    ),
    min_size=1,
    max_size=20,
)


def write(path: Path, raw_rows: Sequence[Mapping[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows([[raw[c] for c in HEADER] for raw in raw_rows])


def first_row(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def engine(icp: Icp, path: Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """JSON lines, reasons and errors as the per-record path gives them."""
    scorer = Scorer(icp)
    lines, reasons, errors = [], [], []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in read_rows(handle, source=str(path), kind=RecordKind.ACCOUNT, types=FIELDS):
            if row.record is None:
                errors.append(str(row.error))
                continue
            score = scorer.score_account(row.record.fields, NOW)
            lines.append(summary(score, domain=row.record.domain))
            reasons.append("\n".join(score.reasons))
    return lines, reasons, errors


def columnar(icp: Icp, path: Path, out: Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The same three from the columnar path: `--json` lines, and `-o`'s reasons."""
    header = list(HEADER)
    stream = io.BytesIO()
    source = open_source(path, header, FIELDS)
    run = score_list(source, icp=icp, types=FIELDS, now=NOW, output=Output.JSON, out=stream)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    written = score_list(source, icp=icp, types=FIELDS, now=NOW, output=Output.CSV, out_path=out)
    assert [str(e) for e in written.errors] == [str(e) for e in run.errors]
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    reasons = [row["icp_reasons"] for row in table if row["icp_tier"]]
    return lines, reasons, [str(e) for e in run.errors]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(icp=icps, raw_rows=rows)
def test_the_columnar_path_scores_every_row_as_the_engine_does(
    icp: Icp, raw_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    write(path, raw_rows)
    want_lines, want_reasons, want_errors = engine(icp, path)
    lines, reasons, errors = columnar(icp, path, tmp_path / "out.csv")
    assert errors == want_errors
    assert lines == want_lines
    assert reasons == want_reasons


def test_the_shipped_icp_on_the_sample_equals_the_engine(tmp_path: Path) -> None:
    from tests.support import CONFIG, ROOT

    path = ROOT / "config" / "sample" / "companies.csv"
    icp, types = CONFIG.icp, CONFIG.fields.types
    scorer = Scorer(icp)
    with path.open(newline="", encoding="utf-8") as handle:
        want = [
            summary(scorer.score_account(r.record.fields, NOW), domain=r.record.domain)
            for r in read_rows(handle, source=str(path), kind=RecordKind.ACCOUNT, types=types)
            if r.record is not None
        ]
    header = first_row(path)
    stream = io.BytesIO()
    run = score_list(
        open_source(path, header, types),
        icp=icp,
        types=types,
        now=NOW,
        output=Output.JSON,
        out=stream,
    )
    assert not run.errors and run.scored == len(want) == 500
    assert [json.loads(line) for line in stream.getvalue().splitlines()] == want


@pytest.mark.parametrize("typed", [False, True], ids=["text columns", "typed columns"])
def test_a_parquet_list_scores_as_its_csv_does(tmp_path: Path, typed: bool) -> None:
    """Parquet in (text columns as a CSV converts, or typed: numbers, dates, lists) and out."""
    from tests.support import CONFIG, ROOT

    source_csv = ROOT / "config" / "sample" / "companies.csv"
    parquet = tmp_path / "companies.parquet"
    db = duckdb.connect()
    read = f"read_csv('{source_csv}', all_varchar = {'false' if typed else 'true'})"
    if typed:  # technologies as a LIST column, as a warehouse export holds it
        read = f"(SELECT * REPLACE (string_split(technologies, ';') AS technologies) FROM {read})"
    db.execute(f"COPY (SELECT * FROM {read}) TO '{parquet}' (FORMAT PARQUET)")
    kinds = {row[0]: row[1] for row in db.execute(f"DESCRIBE SELECT * FROM '{parquet}'").fetchall()}
    db.close()
    if typed:
        assert kinds["employees"] != "VARCHAR"
    types = CONFIG.fields.types
    header = first_row(source_csv)
    runs = {}
    for path in (source_csv, parquet):
        out = tmp_path / f"out-{path.suffix[1:]}.parquet"
        runs[path.suffix] = score_list(
            open_source(path, header, types),
            icp=CONFIG.icp,
            types=types,
            now=NOW,
            output=Output.PARQUET,
            out_path=out,
        )
    assert runs[".csv"].tiers == runs[".parquet"].tiers and runs[".csv"].scored == 500
    db = duckdb.connect()
    verdicts = [
        db.execute(
            f"SELECT icp_score, icp_tier, icp_profile, icp_coverage, icp_reasons "
            f"FROM '{tmp_path}/out-{kind}.parquet'"
        ).fetchall()
        for kind in ("csv", "parquet")
    ]
    assert verdicts[0] == verdicts[1]


def test_duckdb_draws_no_progress_bar_on_stdout(tmp_path: Path) -> None:
    """A long run would otherwise draw it amid the JSON lines a script reads."""
    from bot.lists.columnar import _connect

    db = _connect(1, str(tmp_path))
    try:
        found = db.execute("SELECT current_setting('enable_progress_bar')").fetchall()
        assert found == [(False,)]
    finally:
        db.close()
