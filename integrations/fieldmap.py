"""`fields.yaml`: which CRM property feeds which canonical field.

Built-in defaults map HubSpot's and Salesforce's standard properties; the
file only needs what a team does differently, plus its custom fields (with
a type, so the ICP can be validated against them). Value translations turn
CRM picklist values into the canonical vocabulary (`Customer - Direct` →
`customer`) so one `icp.yaml` scores both CRMs.

Deals have no canonical fields, only outcomes: HubSpot and Salesforce record
won and lost themselves, but neither has a standard churn stage, so the
file names the stages a team uses for it (`deal` / `opportunity`:
`churned_stages`). Calibration reads a churned deal as anti-ICP (SPEC §8).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.records import PropertyCoercer
from scoring.fields import ACCOUNT_FIELDS, PERSON_FIELDS, FieldType, known_fields
from scoring.problems import (
    ConfigError,
    Problem,
    closest,
    did_you_mean,
    line_of_key,
    load_yaml,
    not_a_key,
)

OBJECTS: Mapping[str, tuple[str, ...]] = {
    "hubspot": ("company", "contact"),
    "salesforce": ("account", "lead"),
}

# Each CRM's deal object: not mapped to canonical fields, only how its stages read.
DEAL_OBJECTS: Mapping[str, str] = {"hubspot": "deal", "salesforce": "opportunity"}
_DEAL_SETTINGS = ("churned_stages",)
# The won stage of each CRM's default pipeline: naming it as churn would turn every win.
_WON_STAGES: Mapping[str, frozenset[str]] = {
    "hubspot": frozenset({"closedwon", "closed won"}),
    "salesforce": frozenset({"closed won"}),
}

_ACCOUNT_DEFAULTS = {
    "hubspot": {
        "domain": "domain",
        "name": "name",
        "industry": "industry",
        "employees": "numberofemployees",
        "annual_revenue": "annualrevenue",
        "country": "country",
        "state": "state",
        "city": "city",
        "technologies": "web_technologies",
        "lifecycle_stage": "lifecyclestage",
        "owner_id": "hubspot_owner_id",
        "created_at": "createdate",
    },
    "salesforce": {
        "domain": "Website",
        "name": "Name",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "country": "BillingCountry",
        "state": "BillingState",
        "city": "BillingCity",
        "owner_id": "OwnerId",
        "created_at": "CreatedDate",
    },
}

_PERSON_DEFAULTS = {
    "hubspot": {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "job_title": "jobtitle",
        "seniority": "hs_seniority",
        "lead_source": "hs_analytics_source",
        "lifecycle_stage": "lifecyclestage",
        "owner_id": "hubspot_owner_id",
        "created_at": "createdate",
    },
    "salesforce": {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "job_title": "Title",
        "lead_source": "LeadSource",
        "name": "Company",
        "domain": "Website",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "country": "Country",
        "state": "State",
        "city": "City",
        "owner_id": "OwnerId",
        "created_at": "CreatedDate",
    },
}

_SALESFORCE_TYPE = {"Customer - Direct": "customer", "Customer - Channel": "customer"}


@dataclass(frozen=True, slots=True)
class PropertyMap:
    """One CRM property and how its values translate to canonical ones."""

    property: str
    values: Mapping[str, str] = field(default_factory=dict)

    def translate(self, value: object) -> object:
        if not self.values or not isinstance(value, str):
            return value
        return self.values.get(value.strip().casefold(), value)


def stage_key(stage: object) -> str:
    """A deal stage as stages are compared: its text, trimmed, in any case."""
    return str(stage).strip().casefold()


@dataclass(frozen=True, slots=True)
class FieldMap:
    """The whole mapping: custom field types and, per CRM object, canonical → property;
    per CRM, the deal stages that mean churn (as `stage_key`s)."""

    custom: Mapping[str, FieldType]
    objects: Mapping[tuple[str, str], Mapping[str, PropertyMap]]
    churned: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def churned_stages(self, crm: str) -> frozenset[str]:
        """The stages (ids or labels, as `stage_key`s) whose deals were won and then lost
        as customers; none unless fields.yaml names them."""
        return self.churned.get(crm, frozenset())

    @property
    def types(self) -> dict[str, FieldType]:
        """Every canonical field with its type: what the ICP and routing may use."""
        return known_fields(self.custom)

    def properties(self, crm: str, obj: str) -> list[str]:
        """CRM property names to fetch for an object."""
        return sorted({m.property for m in self.objects[(crm, obj)].values()})

    def coercer(
        self, crm: str, obj: str, present: Collection[str] | None = None
    ) -> PropertyCoercer:
        """CRM properties to typed canonical fields, compiled once per object.

        `present`: the properties the CRM has (case-insensitive), when others
        should not even be looked up.
        """
        known = {p.lower() for p in present} if present is not None else None
        plan = [
            (name, m.property, m.translate if m.values else None)
            for name, m in self.objects[(crm, obj)].items()
            if known is None or m.property.lower() in known
        ]
        return PropertyCoercer(plan, self.types)

    def property_for(self, crm: str, obj: str, canonical: str) -> str | None:
        mapping = self.objects[(crm, obj)].get(canonical)
        return mapping.property if mapping else None


def default_field_map(custom: Mapping[str, FieldType] | None = None) -> FieldMap:
    """The mapping used when there is no fields.yaml: standard properties only."""
    objects: dict[tuple[str, str], dict[str, PropertyMap]] = {}
    for crm, (account_obj, person_obj) in OBJECTS.items():
        objects[(crm, account_obj)] = _maps(_ACCOUNT_DEFAULTS[crm])
        objects[(crm, person_obj)] = _maps(_PERSON_DEFAULTS[crm])
    objects[("salesforce", "account")]["lifecycle_stage"] = PropertyMap(
        "Type", {k.casefold(): v for k, v in _SALESFORCE_TYPE.items()}
    )
    return FieldMap(dict(custom or {}), objects)


def _maps(names: Mapping[str, str]) -> dict[str, PropertyMap]:
    return {canonical: PropertyMap(prop) for canonical, prop in names.items()}


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"custom", *OBJECTS}
_MAP_KEYS = {"property", "values"}


def parse_field_map(text: str | None, *, source: str) -> tuple[FieldMap, list[Problem]]:
    """Defaults overlaid with the file; raises ConfigError listing every problem."""
    if text is None:
        return default_field_map(), []
    data, problems = load_yaml(text, source)
    data = data if data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([*problems, Problem(source, "", "the file must be a mapping")])
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(Problem(source, "", not_a_key(key, _TOP_KEYS), line_of_key(data, key)))
    custom = _custom(data.get("custom"), source, problems)
    defaults = default_field_map(custom)
    objects = {key: dict(mapping) for key, mapping in defaults.objects.items()}
    churned: dict[str, frozenset[str]] = {}
    for crm, objs in OBJECTS.items():
        _overlay(data.get(crm), crm, objs, defaults.types, objects, source, problems)
        churned[crm] = _churned(data.get(crm), crm, source, problems)
    if any(not p.warning for p in problems):
        raise ConfigError(problems)
    return FieldMap(custom, objects, churned), problems


def _custom(raw: object, source: str, problems: list[Problem]) -> dict[str, FieldType]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(source, "custom", "must map field names to types"))
        return {}
    custom: dict[str, FieldType] = {}
    standard = {**ACCOUNT_FIELDS, **PERSON_FIELDS}
    allowed = ", ".join(t.value for t in FieldType)
    for name, kind in raw.items():
        where, line = f"custom/{name}", line_of_key(raw, name)
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(Problem(source, where, "names are lower_snake_case", line))
        elif name in standard:
            problems.append(Problem(source, where, "is a standard field already", line))
        elif kind not in {t.value for t in FieldType}:
            hint = did_you_mean(kind, [t.value for t in FieldType])
            message = f"type {kind!r} is not one of {allowed}{hint}"
            problems.append(Problem(source, where, message, line))
        else:
            custom[name] = FieldType(kind)
    return custom


def _overlay(
    raw: object,
    crm: str,
    objs: tuple[str, ...],
    types: Mapping[str, FieldType],
    into: dict[tuple[str, str], dict[str, PropertyMap]],
    source: str,
    problems: list[Problem],
) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        problems.append(Problem(source, crm, f"must map objects ({', '.join(objs)}) to fields"))
        return
    for obj, fields in raw.items():
        if obj == DEAL_OBJECTS[crm]:
            continue  # its settings are read by `_churned`
        known = (*objs, DEAL_OBJECTS[crm])
        if obj not in objs:
            hint = did_you_mean(obj, known)
            message = f"unknown object {obj!r}; {crm} has {', '.join(known)}{hint}"
            problems.append(Problem(source, f"{crm}/{obj}", message, line_of_key(raw, obj)))
            continue
        if not isinstance(fields, dict):
            message = "must map canonical fields"
            problems.append(Problem(source, f"{crm}/{obj}", message, line_of_key(raw, obj)))
            continue
        target = into[(crm, obj)]
        for name, spec in fields.items():
            where = f"{crm}/{obj}/{name}"
            mapped = _property_map(spec, where, source, problems, line_of_key(fields, name))
            if name not in types:
                hint = did_you_mean(name, types)
                message = f"unknown canonical field{hint}; custom fields are declared under custom:"
                problems.append(Problem(source, where, message, line_of_key(fields, name)))
            elif mapped:
                target[name] = mapped


def _property_map(
    spec: Any, where: str, source: str, problems: list[Problem], line: int | None
) -> PropertyMap | None:
    """A property name, or {property: NAME, values: {...}}; `line`: the field's own line."""
    if isinstance(spec, str) and spec.strip():
        return PropertyMap(spec.strip())
    extra = [k for k in spec if k not in _MAP_KEYS] if isinstance(spec, dict) else []
    for key in extra:
        problems.append(Problem(source, where, not_a_key(key, _MAP_KEYS), line_of_key(spec, key)))
    if isinstance(spec, dict) and isinstance(spec.get("property"), str):
        values = spec.get("values") or {}
        if not isinstance(values, dict):
            message = "values must map CRM values to canonical ones"
            problems.append(Problem(source, where, message, line_of_key(spec, "values")))
            return None
        if extra:
            return None
        return PropertyMap(spec["property"], {str(k).casefold(): str(v) for k, v in values.items()})
    if not any(closest(k, _MAP_KEYS) == "property" for k in extra):  # else: reported above
        message = "must be a property name or {property: NAME, values: {...}}"
        problems.append(Problem(source, where, message, line))
    return None


def _churned(raw: object, crm: str, source: str, problems: list[Problem]) -> frozenset[str]:
    """The `churned_stages` of the CRM's deal object, as `stage_key`s; none when absent."""
    obj = DEAL_OBJECTS[crm]
    section = raw.get(obj) if isinstance(raw, dict) else None
    if section is None:
        return frozenset()
    where = f"{crm}/{obj}"
    if not isinstance(section, dict):
        message = "must map deal settings: churned_stages: [STAGE, ...]"
        problems.append(Problem(source, where, message, line_of_key(raw, obj)))
        return frozenset()
    for key in section:
        if key not in _DEAL_SETTINGS:
            hint = did_you_mean(key, _DEAL_SETTINGS)
            message = f"unknown setting; {obj} takes {', '.join(_DEAL_SETTINGS)}{hint}"
            problems.append(Problem(source, f"{where}/{key}", message, line_of_key(section, key)))
    setting, line = f"{where}/churned_stages", line_of_key(section, "churned_stages")
    stages = _stages(section.get("churned_stages"), setting, source, problems, line)
    won = sorted(stages & _WON_STAGES[crm])
    if won:
        message = f"names the won stage ({', '.join(won)}): every won deal would count as churned"
        problems.append(Problem(source, setting, message, line, warning=True))
    return stages


def _stages(
    raw: object, where: str, source: str, problems: list[Problem], line: int | None
) -> frozenset[str]:
    """A list of stage ids or labels (an unquoted numeric id reads as a number: taken as text)."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(_is_stage(s) for s in raw):
        message = "must be a list of stage ids or labels, e.g. [churned]"
        problems.append(Problem(source, where, message, line))
        return frozenset()
    return frozenset(stage_key(s) for s in raw)


def _is_stage(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(str(value).strip())
