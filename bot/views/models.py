"""What a view needs to know about an account or a person beyond its score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scoring.result import PersonaResult


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as a message shows it: a name, a domain and a way back to the CRM."""

    domain: str
    name: str | None = None
    crm: str | None = None  # "hubspot", "salesforce", "csv"
    url: str | None = None  # the CRM record page
    owner: str | None = None  # who owns it: a Slack mention like "<@U123>", or a name/email

    @property
    def title(self) -> str:
        return self.name or self.domain


@dataclass(frozen=True, slots=True)
class PersonView:
    """A contact or lead with their persona fit."""

    email: str
    persona: PersonaResult
    name: str | None = None
    job_title: str | None = None

    @classmethod
    def of(cls, email: str, persona: PersonaResult, fields: Mapping[str, object]) -> PersonView:
        """A person from their CRM fields: first and last name, job title."""
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
        title = fields.get("job_title")
        return cls(email, persona, name or None, str(title) if title else None)
