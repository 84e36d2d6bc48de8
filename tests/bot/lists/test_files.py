"""`icpbot score FILE.csv`: JSON lines or an annotated CSV, bad rows named and kept.

Run as a user runs it: a real process, real files.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from bot.lists import columnar
from tests.support import ROOT, SUMMARY_KEYS, icpbot

OUTPUT_COLUMNS = list(columnar.OUTPUT_COLUMNS)
ROWS = """domain,name,industry,employees,country,technologies,lifecycle_stage
https://www.Acme.co.uk/pricing,Acme,software,450,United Kingdom,hubspot;slack,lead
bad.com,Bad,software,lots,US,,
,NoDomain,software,10,US,,
cust.com,Cust,software,300,US,hubspot,customer
short.com,Short
"""


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text(ROWS, encoding="utf-8")
    return path


def test_score_csv_json_lines_and_bad_rows(rows_csv: Path) -> None:
    done = icpbot("score", str(rows_csv), "--json", "--as-of", "2026-11-20")
    assert done.returncode == 1  # some rows could not be read
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["domain"] for line in lines] == ["acme.co.uk", "cust.com"]
    assert all(set(line) == SUMMARY_KEYS for line in lines)
    assert lines[1]["tier"] == "DQ" and lines[1]["disqualified_by"] == "customer"
    assert all(set(c) == {"id", "status", "points"} for c in lines[0]["criteria"])
    errors = " ".join(done.stderr.split())
    assert "row 3: employees 'lots': not a number" in errors
    assert "row 4: domain is missing" in errors
    assert "row 6: has 2 cells, the header has 7" in errors
    assert "scored 2 rows" in errors


def test_score_csv_output_keeps_every_row(rows_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    done = icpbot("score", str(rows_csv), "-o", str(out), "--as-of", "2026-11-20")
    assert done.returncode == 1
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ROWS.splitlines()[0].split(",") + OUTPUT_COLUMNS
    # Header and every row the CSV could give, bad ones with empty score cells; the row of
    # two cells has no columns to carry, and is named with the other bad rows.
    assert len(table) == 5
    assert "row 6: has 2 cells, the header has 7" in " ".join(done.stderr.split())
    assert table[1][-7:-2] == ["50", "C", "midmarket-saas", "0.5", ""]
    assert table[1][-2].splitlines()[0].startswith("+") and table[1][-1] == ""
    # A refused row says why in its own cell, as the run's errors do.
    assert table[2][-7:] == ["", "", "", "", "", "", "employees 'lots': not a number"]
    assert table[3][-1] == "domain is missing"
    assert table[4][-7:-2] == ["50", "DQ", "midmarket-saas", "0.5", "customer"]


def test_a_file_scored_before_gets_this_runs_verdict_in_place_of_the_old(
    tmp_path: Path,
) -> None:
    """Re-scoring an output file (a new ICP version) replaces its icp_* columns: no copies
    beside them, and the tiers counted are the new ones, not the file's old cells."""
    path = tmp_path / "scored.csv"
    path.write_text(
        "domain,employees,icp_score,ICP_Tier,notes,notes\nacme.com,300,99,A,x,y\nbeta.io,abc,,,,\n",
        encoding="utf-8",
    )
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"again.{suffix}"
        done = icpbot("score", str(path), "-o", str(out), "--as-of", "2026-11-20")
        said = " ".join(done.stderr.split())
        assert "icp_score, ICP_Tier: scored before" in said, said
        assert "scored 1 row (A 0, B 0, C 0, D 1, DQ 0); 1 row skipped" in said
        assert "row 3: employees 'abc': not a number" in said
        table = duckdb.sql(f"SELECT * FROM '{out}'")
        assert table.columns == ["domain", "employees", "notes", "notes_2", *OUTPUT_COLUMNS]
        rows = table.fetchall()
        assert rows[0][4:6] == ("15", "D") or rows[0][4:6] == (15, "D")
        assert rows[1][-1] == "employees 'abc': not a number"


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty file"), ("name,industry\nAcme,software\n", "no 'domain' column")],
    ids=["empty file", "no domain column"],
)
def test_unreadable_files_exit_1_with_a_message(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    done = icpbot("score", str(path), "--json")
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_a_huge_cell_is_read_like_any_other(tmp_path: Path) -> None:
    """A 10 MB notes cell, as a real export can hold: every row is scored and written."""
    path = tmp_path / "big.csv"
    notes = "x" * 10_000_000
    path.write_text(
        "domain,name,industry,employees,country,notes\n"
        "one.com,One,software,300,US,short\n"
        f"two.com,Two,software,300,US,{notes}\n"
        "three.com,Three,retail,40,DE,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    done = icpbot("score", str(path), "-o", str(out), "--as-of", "2026-11-20")
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert [row[0] for row in table[1:]] == ["one.com", "two.com", "three.com"]
    assert all(row[-5] for row in table[1:])  # every row has its tier


def test_a_line_the_csv_reader_refuses_is_named_and_the_rest_are_read(tmp_path: Path) -> None:
    from integrations.csv import RowReader, numbered_rows
    from integrations.records import RecordKind
    from tests.support import CONFIG

    path = tmp_path / "rows.csv"
    path.write_text("domain,name\nok.com,Ok\nlong.com," + "y" * 50 + "\nafter.com,After\n")
    limit = csv.field_size_limit(20)  # a cell over the reader's limit: csv.Error on that line
    try:
        with path.open(newline="") as handle:
            header, rows = numbered_rows(handle, source=str(path))
            reader = RowReader(
                header, source=str(path), kind=RecordKind.ACCOUNT, types=CONFIG.fields.types
            )
            read = [reader.row(number, cells) for number, cells in rows]
    finally:
        csv.field_size_limit(limit)
    assert [r.record.domain for r in read if r.record] == ["ok.com", "after.com"]
    errors = [str(r.error) for r in read if r.error]
    assert (
        len(errors) == 1
        and "row 3: cannot be read as CSV (field larger than field limit" in errors[0]
    )


def test_a_misspelt_column_is_named_with_what_it_costs(tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text("domain,name,Industy,employees,country\nacme.com,Acme,software,300,US\n")
    done = icpbot("score", str(path), "--json", "--as-of", "2026-11-20")
    assert done.returncode == 0
    text = " ".join(done.stderr.split())
    assert "column 'industy' is not a field icpbot reads: did you mean 'industry'?" in text
    assert "no column for" in text and "industry (15%)" in text
    assert text.count("industy") == 1  # said once, not per row
    assert "scored 1 row (" in text


def many_bad_rows(tmp_path: Path, good: int, bad: int) -> Path:
    path = tmp_path / "many.csv"
    lines = ["domain,name,industry,employees"]
    lines += [f"ok{n}.com,Ok {n},software,300" for n in range(good)]
    lines += [f"bad{n}.com,Bad {n},software,lots" for n in range(bad)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_many_bad_rows_are_summed_up_with_the_first_few_shown(tmp_path: Path) -> None:
    path = many_bad_rows(tmp_path, good=1_200, bad=1_234)
    done = icpbot("score", str(path), "-o", str(tmp_path / "out.csv"), "--as-of", "2026-11-20")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    skipped = [ln for ln in lines if ln.startswith("skipped ")]
    assert len(skipped) == 10 and "row 1202: employees 'lots': not a number" in skipped[0]
    assert "… and 1,224 more rows skipped; --errors FILE lists every one" in done.stderr
    assert "scored 1,200 rows (" in done.stderr and "; 1,234 rows skipped" in done.stderr


def test_errors_file_lists_every_bad_row(tmp_path: Path) -> None:
    path = many_bad_rows(tmp_path, good=3, bad=25)
    errors = tmp_path / "errors.csv"
    done = icpbot("score", str(path), "--json", "--errors", str(errors), "--as-of", "2026-11-20")
    assert done.returncode == 1 and len(done.stdout.splitlines()) == 3
    with errors.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 25 and set(rows[0]) == {"file", "row", "problem"}
    assert [int(r["row"]) for r in rows] == list(range(5, 30))
    assert rows[0]["problem"] == "employees 'lots': not a number"
    assert f"every skipped row (25 rows) is listed in {errors}" in " ".join(done.stderr.split())


def test_a_dated_export_scored_as_of_today_says_why_it_can_differ(tmp_path: Path) -> None:
    sample = ROOT / "config" / "sample" / "companies.csv"
    today = icpbot("score", str(sample), "-o", str(tmp_path / "today.csv"))
    said = " ".join(today.stderr.split())
    assert "manifest.yaml dates this export 2026-11-20" in said
    assert "Add --as-of 2026-11-20 to score it as of that day." in said
    pinned = icpbot("score", str(sample), "-o", str(tmp_path / "then.csv"), "--as-of", "2026-11-20")
    assert "manifest.yaml" not in pinned.stderr and pinned.returncode == 0


def test_a_hubspot_export_is_scored_with_its_own_column_labels(tmp_path: Path) -> None:
    """`Website`, `Company Name`, `Number of Employees`: read as the fields they hold, said."""
    path = tmp_path / "hubspot-export.csv"
    path.write_text(
        "Website,Company Name,Industry,Number of Employees,Annual Revenue,Country/Region\n"
        "https://www.acme.com/,Acme,Software,300,20000000,US\n",
        encoding="utf-8",
    )
    done = icpbot("score", str(path), "--json", "--as-of", "2026-11-20")
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["domain"] == "acme.com"
    statuses = {c["id"]: c["status"] for c in line["criteria"]}
    assert statuses["headcount"] == statuses["revenue"] == statuses["geography"] == "matched"
    said = " ".join(done.stderr.split())
    assert "'Number of Employees' as employees" in said and "'Website' as domain" in said


def test_a_file_separated_by_semicolons_says_so(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("Domain;Name;Employees\nacme.com;Acme;300\n", encoding="utf-8")
    done = icpbot("score", str(path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    said = " ".join(done.stderr.split())
    assert "the header is separated by semicolons, not commas" in said
    assert "columns not read" not in said


def test_the_summary_sizes_the_market(tmp_path: Path) -> None:
    sample = ROOT / "config" / "sample" / "companies.csv"
    done = icpbot("score", str(sample), "--summary", "--as-of", "2026-11-20")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("500 companies scored against ICP v")
    assert "ICP market (tiers A and B): 67 companies (13.4%)" in text
    for title in ("by profile", "by country", "by industry", "disqualified by"):
        assert f"\n{title}" in text
    as_json = icpbot("score", str(sample), "--summary", "--json", "--as-of", "2026-11-20")
    market = json.loads(as_json.stdout)
    assert market["scored"] == 500 and market["all"]["tiers"]["A"] == 18
    assert sum(c["companies"] for c in market["country"]) == 500


def test_summary_and_output_together_are_refused_in_words(tmp_path: Path) -> None:
    sample = ROOT / "config" / "sample" / "companies.csv"
    done = icpbot("score", str(sample), "--summary", "-o", str(tmp_path / "x.csv"))
    assert done.returncode == 1 and "choose one" in done.stderr
    assert not (tmp_path / "x.csv").exists()


def test_bad_rows_are_named_by_their_line_around_blank_lines_and_long_cells(
    tmp_path: Path,
) -> None:
    """Line numbers as the file has them, whatever spans lines or is blank before them,
    whichever way the rows go out."""
    path = tmp_path / "rows.csv"
    path.write_text(
        "domain,name,employees\n"
        "one.com,One,10\n"
        "\n"
        ", ,\n"
        'two.com,"Two\nLines",20\n'
        "three.com,Three,many\n"
        "four.com,Four,5,extra\n"
        "five.com,Five,-3\n",
        encoding="utf-8",
    )
    expected = [
        "row 7: employees 'many': not a number",
        "row 8: has 4 cells, the header has 3",
        "row 9: employees '-3': cannot be negative",
    ]
    ways = {
        "json": ["--json"],
        "summary": ["--summary"],
        "csv": ["-o", str(tmp_path / "out.csv")],
        "parquet": ["-o", str(tmp_path / "out.parquet")],
    }
    for way, args in ways.items():
        done = icpbot("score", str(path), *args, "--as-of", "2026-11-20")
        errors = " ".join(done.stderr.split())
        assert done.returncode == 1, way
        assert all(e in errors for e in expected), (way, errors)
        if way == "json":
            domains = [json.loads(line)["domain"] for line in done.stdout.splitlines()]
            assert domains == ["one.com", "two.com"]


def test_a_parquet_list_names_its_bad_rows_by_row_number_past_blank_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES ('one.com', '10'), (NULL, NULL), ('', ' '), ('two.com', 'x'), "
        "('three.com', '5'), (NULL, '-1')) AS t(domain, employees)"
    ).write_parquet(str(path))
    for args in (["--json"], ["--summary"], ["-o", str(tmp_path / "out.parquet")]):
        done = icpbot("score", str(path), *args, "--as-of", "2026-11-20")
        errors = " ".join(done.stderr.split())
        assert "row 4: employees 'x': not a number" in errors, (args, errors)
        assert "row 6: employees '-1': cannot be negative; domain is missing" in errors, errors


def test_a_small_summary_counts_in_words_and_shows_no_coverage_for_no_companies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "one.csv"
    path.write_text("domain,employees\nacme.com,300\nbeta.io,lots\n", encoding="utf-8")
    done = icpbot("score", str(path), "--summary", "--as-of", "2026-11-20")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("1 company scored against ICP v") and "(1 row skipped)" in lines[0]
    assert lines[1] == "ICP market (tiers A and B): 0 companies (0.0%), mean coverage -"
    assert lines[4].split() == ["A", "0", "0.0%", "-"]  # a mean of no companies is not 0%
