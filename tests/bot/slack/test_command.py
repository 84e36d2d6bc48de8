"""`/icp` text → request: every documented form, and nothing at all makes it raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.command import (
    MAX_TOP,
    Help,
    Lookup,
    Profile,
    Recent,
    Rescore,
    Top,
    Usage,
    parse,
)
from integrations.records import RecordKind
from scoring.model import Tier


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme.com", Lookup("acme.com", domain="acme.com")),
        ("https://www.Acme.co.uk/x", Lookup("https://www.Acme.co.uk/x", domain="acme.co.uk")),
        ("<https://acme.com|acme.com>", Lookup("https://acme.com", domain="acme.com")),
        ("<mailto:dana@acme.com|dana@acme.com>", Lookup("dana@acme.com", domain="acme.com")),
        ("Acme  Robotics ", Lookup("Acme Robotics", name="Acme Robotics")),
        ("top", Top()),
        ("TOP 5 a", Top(5, Tier.A)),
        ("top dq 3", Top(3, Tier.DQ)),
        ("recent", Recent()),
        ("recent 7", Recent(7)),
        ("profile", Profile()),
        ("help", Help()),
        ("rescore https://acme.com/", Rescore("acme.com")),
    ],
)
def test_documented_forms(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("url", "crm", "kind", "crm_id"),
    [
        ("https://app.hubspot.com/contacts/42/company/9001", "hubspot", RecordKind.ACCOUNT, "9001"),
        (
            "https://app-eu1.hubspot.com/contacts/4242/record/0-2/9001/view",
            "hubspot",
            RecordKind.ACCOUNT,
            "9001",
        ),
        ("https://app.hubspot.com/contacts/4242/contact/77", "hubspot", RecordKind.CONTACT, "77"),
        (
            "https://acme.lightning.force.com/lightning/r/Account/001Dn00000AbCdEIAZ/view",
            "salesforce",
            RecordKind.ACCOUNT,
            "001Dn00000AbCdEIAZ",
        ),
        (
            "https://acme.lightning.force.com/lightning/r/Lead/00QDn00000AbCdE/view",
            "salesforce",
            RecordKind.LEAD,
            "00QDn00000AbCdE",
        ),
        (
            "https://acme.my.salesforce.com/001Dn00000AbCdEIAZ",
            "salesforce",
            RecordKind.ACCOUNT,
            "001Dn00000AbCdEIAZ",
        ),
    ],
)
def test_crm_record_links(url: str, crm: str, kind: RecordKind, crm_id: str) -> None:
    request = parse(url)
    assert isinstance(request, Lookup)
    assert (request.crm, request.kind, request.crm_id) == (crm, kind, crm_id)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "top 0",
        f"top {MAX_TOP + 1}",
        "top 5 Z",
        "recent lots",
        "rescore",
        "rescore a b",
        "rescore acme",
        "ftp://",
        "x" * 600,
        "dana@",
        "https://",
    ],
)
def test_what_is_not_understood_gets_usage_with_the_reason(text: str) -> None:
    request = parse(text)
    assert isinstance(request, Usage) and request.problem


def test_profile_with_more_words_is_a_company_name() -> None:
    assert parse("profile dynamics") == Lookup("profile dynamics", name="profile dynamics")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=700))
def test_any_text_parses_to_one_request(text: str) -> None:
    request = parse(text)
    assert isinstance(request, Lookup | Top | Recent | Profile | Rescore | Help | Usage)
    if isinstance(request, Top):
        assert 1 <= request.count <= MAX_TOP


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "top",
                "recent",
                "rescore",
                "help",
                "profile",
                "<",
                ">",
                "|",
                "http://",
                "hubspot.com",
                "/contacts/1/company/2",
                "@",
                ".",
                "acme.com",
                " ",
                "\n",
                "%",
                "'",
                '"',
                "A",
                "99",
                "-1",
                "٣",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_command_shaped_text_parses_to_one_request(text: str) -> None:
    assert parse(text) is not None
