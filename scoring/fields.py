"""The canonical record's fields and their types (SPEC §3).

Every CRM record is normalised to these names before scoring, so the ICP
file speaks one vocabulary whichever CRM the data came from. A team adds
custom fields through `fields.yaml`; they join this vocabulary with a type.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    LIST = "list"


ACCOUNT_FIELDS: Mapping[str, FieldType] = {
    "domain": FieldType.STRING,
    "name": FieldType.STRING,
    "industry": FieldType.STRING,
    "employees": FieldType.NUMBER,
    "annual_revenue": FieldType.NUMBER,
    "country": FieldType.STRING,
    "state": FieldType.STRING,
    "city": FieldType.STRING,
    "technologies": FieldType.LIST,
    "funding_stage": FieldType.STRING,
    "last_funding_at": FieldType.DATE,
    "lifecycle_stage": FieldType.STRING,
    "owner_id": FieldType.STRING,
    "created_at": FieldType.DATE,
}

PERSON_FIELDS: Mapping[str, FieldType] = {
    "email": FieldType.STRING,
    "first_name": FieldType.STRING,
    "last_name": FieldType.STRING,
    "job_title": FieldType.STRING,
    "seniority": FieldType.STRING,
    "lead_source": FieldType.STRING,
}


def known_fields(custom: Mapping[str, FieldType] | None = None) -> dict[str, FieldType]:
    """Every field an ICP may score: account, person, and the team's custom fields."""
    return {**ACCOUNT_FIELDS, **PERSON_FIELDS, **(custom or {})}
