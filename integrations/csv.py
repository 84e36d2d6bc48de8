"""CSV files as a CRM: read an export, write scores back to a file.

A CSV has the canonical field names as its header (SPEC §3), or the column
labels of a HubSpot or Salesforce export (`Number of Employees`); list
fields are `;`-separated. Rows stream one at a time, so a million-row export
costs no more memory than ten. A row that cannot be read is reported by
number with what is wrong, and the rest go on. `deals.csv` gives each
deal's stage in canonical words already (`closed_won`, `closed_lost`,
`churned`, `open`, SPEC §8).
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from integrations.base import Crm, Deal, Owner, RowError, ScoreUpdate, WriteReport
from integrations.domains import normalize_domain
from integrations.records import CrmRecord, RecordKind, RowCoercer, to_datetime
from scoring.fields import FieldType
from scoring.model import DealStage
from scoring.serialize import jsonable

COMPANIES = "companies.csv"
CONTACTS = "contacts.csv"
DEALS = "deals.csv"
SCORES = "scores.csv"
OWNERS = "owners.csv"  # owner_id, name, email: who the owner_id column means
SCORE_COLUMNS = (
    "kind",
    "id",
    "icp_score",
    "icp_tier",
    "icp_profile",
    "icp_reasons",
    "icp_version",
    "icp_scored_at",
    "icp_persona_score",
)
# The order of ScoreFields.as_dict(), prefixed by kind and id.
Numbered = tuple[int, list[str]]  # a row's line number and its cells
KEY_COLUMN = {RecordKind.ACCOUNT: "domain", RecordKind.CONTACT: "email"}
# Column labels of HubSpot's and Salesforce's own CSV exports, and the field each holds:
# such an export scores as it is, each column read as its field is named once.
EXPORT_LABELS = {
    "website": "domain",
    "website_url": "domain",
    "company_domain_name": "domain",
    "domain_name": "domain",
    "company_name": "name",
    "account_name": "name",
    "number_of_employees": "employees",
    "numberofemployees": "employees",
    "employee_count": "employees",
    "annualrevenue": "annual_revenue",
    "country/region": "country",
    "billing_country": "country",
    "billingcountry": "country",
    "state/region": "state",
    "billing_state/province": "state",
    "billing_state": "state",
    "billing_city": "city",
    "industry_type": "industry",
    "lifecycle_stage": "lifecycle_stage",
    "email_address": "email",
    "title": "job_title",
    "lead_source": "lead_source",
}
STAGES = ", ".join(stage.value for stage in DealStage)


class CsvFormatError(Exception):
    """The file as a whole cannot be read (no header, no key column): nothing to score."""


@dataclass(slots=True)
class CsvRow:
    """One data row: its line in the file, its cells, and the record or the error."""

    number: int
    cells: list[str]
    record: CrmRecord | None
    error: RowError | None
    header: list[str]

    @property
    def raw(self) -> dict[str, str]:
        return dict(zip(self.header, self.cells, strict=False))


# A real export can hold a long notes or description cell; Python's default limit (128 KiB
# a cell) would stop the whole file at the first one. Raised once, for every reader here.
csv.field_size_limit(2**31 - 1)


class Unreadable(list[str]):
    """A line the CSV reader could not read (a broken quote, a NUL byte): no cells, and why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def open_csv(path: Path) -> IO[str]:
    """UTF-8, tolerating the byte-order mark Excel writes."""
    return path.open(newline="", encoding="utf-8-sig")


def plain_column(label: str) -> str:
    """A header cell as a field name would be written: `Annual Revenue` → `annual_revenue`."""
    return "_".join(label.strip().lower().replace("-", " ").split())


def canonical_columns(header: Sequence[str], known: Collection[str]) -> list[str]:
    """The field each header cell holds: its own name, or the field an export label means
    (`Number of Employees` → `employees`) when no other column already holds it."""
    plain = [plain_column(h) for h in header]
    columns: list[str] = []
    for cell in plain:
        field = EXPORT_LABELS.get(cell, cell)
        fits = cell not in known and field in known and field not in plain
        columns.append(field if fits and field not in columns else cell)
    return columns


def separator_hint(header: Sequence[str]) -> str:
    """Why a header may not have split: a file saved with `;` or tabs between its columns."""
    text = ",".join(header)
    for name, mark in (("semicolons", ";"), ("tabs", "\t")):
        if len(header) == 1 and mark in text:
            return (
                f"; the header is separated by {name}, not commas: save the file as "
                "comma-separated CSV (in Excel: CSV UTF-8)"
            )
    return ""


class RowReader:
    """Turns the cells of one CSV's rows into canonical records, given its header."""

    def __init__(
        self,
        header: list[str],
        *,
        source: str,
        kind: RecordKind,
        types: Mapping[str, FieldType],
    ) -> None:
        self.key = KEY_COLUMN[RecordKind.CONTACT if kind.is_person else kind]
        columns = canonical_columns(header, {*types, self.key})
        if self.key not in columns:
            found = ", ".join(h.strip() for h in header)
            raise CsvFormatError(
                f"{source}: no {self.key!r} column in the header ({found}){separator_hint(header)}"
            )
        self.header, self.source, self.kind = header, source, kind
        self.width = len(columns)
        self.coerce = RowCoercer(columns, types)

    def row(self, number: int, cells: list[str]) -> CsvRow:
        """The record of one row, or the error naming the row and what is wrong."""
        if isinstance(cells, Unreadable):
            return self._error(number, cells, f"cannot be read as CSV ({cells.reason}): skipped")
        if len(cells) != self.width:
            message = f"has {len(cells)} cells, the header has {self.width}"
            return self._error(number, cells, message)
        coerced = self.coerce(cells)
        problems = [str(p) for p in coerced.problems]
        key = self.key
        if key not in coerced.fields and not any(p.startswith(key) for p in problems):
            problems.append(f"{key} is missing")
        if problems:
            return self._error(number, cells, "; ".join(problems))
        record = CrmRecord(self.kind, "csv", str(coerced.fields[key]), coerced.fields)
        return CsvRow(number, cells, record, None, self.header)

    def _error(self, number: int, cells: list[str], message: str) -> CsvRow:
        return CsvRow(number, cells, None, RowError(self.source, number, message), self.header)


def numbered_rows(
    handle: IO[str], *, source: str
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header, and each non-blank row with its line number in the file."""
    reader = csv.reader(handle)
    header = next(reader, None)
    if not header:
        raise CsvFormatError(f"{source}: empty file, expected a header row")

    def rows() -> Iterator[Numbered]:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # this line is lost, not the rest of the file
                yield reader.line_num, Unreadable(str(exc))
                continue
            if any(c and not c.isspace() for c in cells):
                yield reader.line_num, cells

    return header, rows()


def read_rows(
    handle: IO[str], *, source: str, kind: RecordKind, types: Mapping[str, FieldType]
) -> Iterator[CsvRow]:
    """Stream rows as canonical records; bad rows come back with their error."""
    header, rows = numbered_rows(handle, source=source)
    reader = RowReader(header, source=source, kind=kind, types=types)
    for number, cells in rows:
        yield reader.row(number, cells)


class CsvCrm(Crm):
    """A directory of CSV exports (companies, contacts, deals); scores go to scores.csv."""

    name = "csv"

    def __init__(
        self, directory: Path, *, types: Mapping[str, FieldType], out: Path | None = None
    ) -> None:
        self.directory = directory
        self.types = types
        self.out = out or directory / SCORES
        self._errors: list[RowError] = []
        self._owner_rows: dict[str, Owner] | None = None

    def _records(self, filename: str, kind: RecordKind) -> Iterator[CrmRecord]:
        path = self.directory / filename
        if not path.exists():
            return
        with open_csv(path) as handle:
            for row in read_rows(handle, source=str(path), kind=kind, types=self.types):
                if row.error:
                    self._errors.append(row.error)
                elif row.record:
                    yield row.record

    def accounts(self) -> Iterator[CrmRecord]:
        return self._records(COMPANIES, RecordKind.ACCOUNT)

    def people(self) -> Iterator[CrmRecord]:
        return self._records(CONTACTS, RecordKind.CONTACT)

    def deals(self) -> Iterator[Deal]:
        """Every row of deals.csv that reads as a deal; the others are named by row."""
        path = self.directory / DEALS
        if not path.exists():
            return
        with open_csv(path) as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                deal = _deal(row)
                if isinstance(deal, str):
                    self._errors.append(RowError(str(path), number, deal))
                else:
                    yield deal

    def write_scores(self, updates: Sequence[ScoreUpdate]) -> WriteReport:
        """Append to scores.csv: the CSV equivalent of tagging the CRM."""
        new_file = not self.out.exists()
        with self.out.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(SCORE_COLUMNS)
            for update in updates:
                cells = update.fields.as_dict()
                cells["scored_at"] = jsonable(cells["scored_at"])
                values = ["" if v is None else v for v in cells.values()]
                writer.writerow([update.kind.value, update.crm_id, *values])
        return WriteReport(written=len(updates))

    def owner(self, owner_id: str) -> Owner | None:
        """The owners.csv row with this owner_id (name, email), None without one."""
        return self._owners().get(owner_id.strip())

    def owners(self) -> list[Owner]:
        """Every owners.csv row."""
        return list(self._owners().values())

    def _owners(self) -> dict[str, Owner]:
        if self._owner_rows is None:
            self._owner_rows = {}
            path = self.directory / OWNERS
            if path.exists():
                with open_csv(path) as handle:
                    for row in csv.DictReader(handle):
                        key = _cell(row, "owner_id")
                        if key:
                            found = Owner(
                                key, _cell(row, "name") or None, _cell(row, "email") or None
                            )
                            self._owner_rows[key] = found
        return self._owner_rows

    def errors(self) -> list[RowError]:
        return list(self._errors)


def _deal(row: Mapping[str, str | None]) -> Deal | str:
    """One deals.csv row as a deal, or what is wrong with it."""
    crm_id, stage = _cell(row, "deal_id"), _cell(row, "stage")
    if not crm_id or not stage:
        return "needs deal_id and stage"
    if stage not in {s.value for s in DealStage}:
        return f"stage {stage!r} is not one of {STAGES}"
    domain = normalize_domain(_cell(row, "domain"))
    if domain is None:
        given = _cell(row, "domain")
        return f"domain {given!r}: not a domain or URL" if given else "has no domain"
    try:
        amount = float(_cell(row, "amount")) if _cell(row, "amount") else None
    except ValueError:
        return f"amount {_cell(row, 'amount')!r}: not a number"
    dates = _dates(row)
    if isinstance(dates, str):
        return dates
    created, closed = dates
    if stage == DealStage.OPEN:
        closed = None  # an open deal's date is only when it is expected to close
    return Deal(crm_id, domain, _cell(row, "name"), DealStage(stage), amount, created, closed)


def _cell(row: Mapping[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _dates(row: Mapping[str, str | None]) -> tuple[datetime | None, datetime | None] | str:
    """created_at and closed_at, or which of them is not a date."""
    found: list[datetime | None] = []
    for column in ("created_at", "closed_at"):
        try:
            found.append(_when(row.get(column)))
        except ValueError:
            return f"{column} {_cell(row, column)!r}: not a date"
    return found[0], found[1]


def _when(text: str | None) -> datetime | None:
    return to_datetime(text) if text and text.strip() else None
