"""SPEC §3: accounts are matched on the registrable domain; free mail matches no account."""

from __future__ import annotations

import pytest

from integrations.domains import email_domain, is_free_mail, normalize_country, normalize_domain
from integrations.records import CrmRecord, RecordKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("https://www.Acme.co.uk/pricing", "acme.co.uk", id="SPEC example"),
        pytest.param("acme.com", "acme.com", id="bare domain"),
        pytest.param("ACME.COM", "acme.com", id="upper case"),
        pytest.param("www.acme.com", "acme.com", id="www"),
        pytest.param("app.eu.acme.com", "acme.com", id="nested subdomains"),
        pytest.param("http://WWW.ACME.DE/", "acme.de", id="http, upper case, slash"),
        pytest.param("acme.com:8080", "acme.com", id="port"),
        pytest.param("http://acme.com:8080/x?y=1", "acme.com", id="port, path and query"),
        pytest.param("www.acme.com?ref=ad", "acme.com", id="query without a path"),
        pytest.param("https://acme.com#pricing", "acme.com", id="fragment"),
        pytest.param("acme.com/about/team", "acme.com", id="path without a scheme"),
        pytest.param("  acme.com.  ", "acme.com", id="spaces and trailing dot"),
        pytest.param("jane@acme.com", "acme.com", id="email"),
        pytest.param("mailto:jane@acme.com", "acme.com", id="mailto link"),
        pytest.param("shop.acme.com.au", "acme.com.au", id=".com.au"),
        pytest.param("acme.co.jp", "acme.co.jp", id=".co.jp"),
        pytest.param("acme.io", "acme.io", id=".io"),
        pytest.param("acme.github.io", "acme.github.io", id="github pages"),
        pytest.param("acme.myshopify.com", "acme.myshopify.com", id="shopify store"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param("Acme Inc", None, id="a company name"),
        pytest.param("not a domain", None, id="words"),
        pytest.param("acme", None, id="no suffix"),
        pytest.param("localhost", None, id="localhost"),
        pytest.param("com", None, id="a suffix alone"),
        pytest.param("co.uk", None, id="a two-part suffix alone"),
        pytest.param("http://", None, id="scheme only"),
        pytest.param("1.2.3.4", None, id="IP address"),
        pytest.param("n/a", None, id="n/a"),
    ],
)
def test_normalize_domain(text: str, expected: str | None) -> None:
    assert normalize_domain(text) == expected


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        pytest.param("jane@acme.com", "acme.com", id="company email"),
        pytest.param("Jane.Doe@Acme.COM", "acme.com", id="case-insensitive"),
        pytest.param("jane@mail.acme.co.uk", "acme.co.uk", id="mail subdomain"),
        pytest.param("jane@gmail.com", None, id="gmail never matches"),
        pytest.param("jane@GMAIL.COM", None, id="GMAIL upper case never matches"),
        pytest.param("jane@googlemail.com", None, id="googlemail"),
        pytest.param("jane@outlook.com", None, id="outlook"),
        pytest.param("jane@hotmail.co.uk", None, id="hotmail.co.uk"),
        pytest.param("jane@yahoo.co.uk", None, id="yahoo.co.uk"),
        pytest.param("jane@us.yahoo.com", None, id="free-mail subdomain"),
        pytest.param("jane@icloud.com", None, id="icloud"),
        pytest.param("jane@proton.me", None, id="proton"),
        pytest.param("not-an-email", None, id="no @"),
        pytest.param("jane@", None, id="no domain"),
        pytest.param("jane@localhost", None, id="no registrable domain"),
    ],
)
def test_email_domain(email: str, expected: str | None) -> None:
    assert email_domain(email) == expected


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        pytest.param("gmail.com", True, id="gmail.com"),
        pytest.param(" Gmail.com ", True, id="Gmail.com, spaced"),
        pytest.param("acme.com", False, id="acme.com"),
    ],
)
def test_is_free_mail(domain: str, free: bool) -> None:
    assert is_free_mail(domain) is free


@pytest.mark.parametrize(
    ("fields", "domain"),
    [
        pytest.param({"email": "jane@acme.com"}, "acme.com", id="contact: email finds account"),
        pytest.param({"email": "jane@gmail.com"}, None, id="contact on gmail: no account"),
        pytest.param(
            {"email": "jane@gmail.com", "domain": "acme.com"}, "acme.com", id="own domain first"
        ),
        pytest.param({}, None, id="nothing to go on"),
    ],
)
def test_a_contact_finds_its_account_by_email_domain(
    fields: dict[str, object], domain: str | None
) -> None:
    record = CrmRecord(RecordKind.CONTACT, "hubspot", "1", fields)
    assert record.domain == domain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("US", "US", id="code"),
        pytest.param("us", "US", id="lower-case code"),
        pytest.param(" gb ", "GB", id="spaced code"),
        pytest.param("United States", "US", id="name"),
        pytest.param("USA", "US", id="USA"),
        pytest.param("U.S.A.", "US", id="U.S.A."),
        pytest.param("United Kingdom", "GB", id="United Kingdom"),
        pytest.param("UK", "GB", id="UK is GB"),
        pytest.param("England", "GB", id="England is GB"),
        pytest.param("germany", "DE", id="lower-case name"),
        pytest.param("Deutschland", "DE", id="endonym"),
        pytest.param("FRA", "FR", id="alpha-3"),
        pytest.param("NO", "NO", id="NO is Norway"),
        pytest.param("Norway", "NO", id="Norway"),
        pytest.param("Côte d'Ivoire", "CI", id="accented name"),
        pytest.param("Narnia", "Narnia", id="unknown text kept as given"),
    ],
)
def test_normalize_country(text: str, expected: str) -> None:
    assert normalize_country(text) == expected
