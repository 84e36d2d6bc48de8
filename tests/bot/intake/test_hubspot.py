"""HubSpot deliveries: the v3 signature, the timestamp window, what is kept and what is not.

Signatures are computed here from HubSpot's description ("Validate requests
using the v3 request signature"), independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.intake.hubspot import (
    BadPayload,
    BadSignature,
    decode_uri,
    dedupe_key,
    parse_events,
    signature_v3,
    verify_v3,
)

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://icpbot.example.com/webhooks/hubspot"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW_MS = str(int(NOW.timestamp() * 1000))
BODY = b'[{"eventId":1,"subscriptionType":"company.creation","objectId":42,"occurredAt":1}]'
WATCHED = {"company": frozenset({"industry", "numberofemployees"}), "contact": frozenset()}


def hubspot_signs(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's recipe: base64(HMAC-SHA256(secret, utf-8(method + uri + body + timestamp)))."""
    source = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def verify(**changes: Any) -> None:
    values: dict[str, Any] = {
        "secret": SECRET,
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "timestamp": NOW_MS,
        "signature": hubspot_signs(
            secret=SECRET, method="POST", uri=URI, body=BODY, timestamp=NOW_MS
        ),
        "now": NOW,
    }
    verify_v3(**(values | changes))


# --- the signature ---------------------------------------------------------------------------


def test_the_signature_is_hubspots_v3_recipe() -> None:
    ours = signature_v3(secret=SECRET, method="POST", uri=URI, body=BODY, timestamp=NOW_MS)
    assert ours == hubspot_signs(secret=SECRET, method="POST", uri=URI, body=BODY, timestamp=NOW_MS)


def test_the_signature_covers_every_part() -> None:
    base: dict[str, Any] = {
        "secret": SECRET,
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "timestamp": NOW_MS,
    }
    reference = signature_v3(**base)
    changes: list[dict[str, Any]] = [
        {"secret": "other"},
        {"method": "PUT"},
        {"uri": URI + "?x=1"},
        {"body": BODY + b" "},
        {"timestamp": str(int(NOW_MS) + 1)},
    ]
    assert all(signature_v3(**(base | change)) != reference for change in changes)


def test_a_non_ascii_body_is_signed_as_its_utf8_bytes() -> None:
    body = '[{"name":"Société Générale"}]'.encode()
    ours = signature_v3(secret=SECRET, method="POST", uri=URI, body=body, timestamp=NOW_MS)
    assert ours == hubspot_signs(secret=SECRET, method="POST", uri=URI, body=body, timestamp=NOW_MS)


@pytest.mark.parametrize(
    ("uri", "signed_as"),
    [
        (URI, URI),
        ("https://x.test/hook?a=b%3Ac", "https://x.test/hook?a=b:c"),
        ("https://x.test/hook?a=b%3ac", "https://x.test/hook?a=b:c"),  # either case
        (
            "https://x.test/h%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B",
            "https://x.test/h:/?@!$'()*,;",
        ),
        (
            "https://x.test/h%3a%2f%3f%40%21%24%27%28%29%2a%2c%3b",
            "https://x.test/h:/?@!$'()*,;",
        ),
        # Not in HubSpot's list: left encoded.
        ("https://x.test/h?q=a%20b%26c%3Dd%2B%23%25", "https://x.test/h?q=a%20b%26c%3Dd%2B%23%25"),
        ("https://x.test/h?q=%253A", "https://x.test/h?q=%253A"),  # an encoded % is not decoded
    ],
)
def test_the_uri_is_signed_with_hubspots_listed_escapes_decoded(uri: str, signed_as: str) -> None:
    assert decode_uri(uri) == signed_as
    ours = signature_v3(secret=SECRET, method="POST", uri=uri, body=BODY, timestamp=NOW_MS)
    theirs = hubspot_signs(secret=SECRET, method="POST", uri=signed_as, body=BODY, timestamp=NOW_MS)
    assert ours == theirs


# --- verifying -------------------------------------------------------------------------------


def test_a_delivery_signed_by_hubspot_now_is_accepted() -> None:
    verify()


@pytest.mark.parametrize("skew", [timedelta(minutes=-5), timedelta(minutes=5), timedelta(0)])
def test_timestamps_within_five_minutes_either_way_are_accepted(skew: timedelta) -> None:
    verify(now=NOW + skew)


@pytest.mark.parametrize(
    "now",
    [
        NOW + timedelta(minutes=5, milliseconds=1),  # the delivery is stale
        NOW - timedelta(minutes=5, milliseconds=1),  # sent from the future
        NOW + timedelta(days=1),
    ],
)
def test_timestamps_outside_the_window_are_refused(now: datetime) -> None:
    with pytest.raises(BadSignature, match="too old or in the future"):
        verify(now=now)


def test_the_window_can_be_narrowed() -> None:
    with pytest.raises(BadSignature):
        verify(now=NOW + timedelta(seconds=61), window=timedelta(minutes=1))


@pytest.mark.parametrize(
    "changes",
    [
        {"signature": None},
        {"signature": ""},
        {"timestamp": None},
        {"timestamp": ""},
        {"signature": None, "timestamp": None},
    ],
)
def test_missing_headers_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(BadSignature, match="missing"):
        verify(**changes)


@pytest.mark.parametrize(
    "timestamp", ["abc", "1.7e12", "-1000", " 1000", "１２３", "99999999999999999999999999"]
)
def test_a_timestamp_that_is_not_whole_milliseconds_is_refused(timestamp: str) -> None:
    with pytest.raises(BadSignature):
        verify(timestamp=timestamp)


@pytest.mark.parametrize(
    "changes",
    [
        {"secret": "someone-else"},
        {"body": BODY.replace(b"42", b"43")},
        {"method": "PUT"},
        {"uri": "https://attacker.example/webhooks/hubspot"},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"signature": "ünïcödé"},
    ],
)
def test_a_signature_that_does_not_match_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify(**changes)


# --- parsing ---------------------------------------------------------------------------------


def hubspot_event(subscription: str = "company.creation", **fields: Any) -> dict[str, Any]:
    event = {
        "eventId": 100,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1_763_888_400_000,
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
    }
    return event | fields


def change(object_type: str, name: str, value: str = "v", **fields: Any) -> dict[str, Any]:
    return hubspot_event(
        f"{object_type}.propertyChange", propertyName=name, propertyValue=value, **fields
    )


def parse(events: Any, **options: Any) -> Any:
    return parse_events(json.dumps(events).encode(), watched=WATCHED, **options)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"[{", "not JSON"),
        (b"\xff\xfe[]", "not JSON"),
        (b'{"eventId": 1}', "JSON array"),
        (b'"company.creation"', "JSON array"),
        (b"null", "JSON array"),
    ],
)
def test_a_body_that_is_not_a_list_of_events_is_a_bad_payload(body: bytes, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason):
        parse_events(body, watched=WATCHED)


def test_more_than_a_thousand_events_is_a_bad_payload() -> None:
    assert len(parse([hubspot_event(eventId=n) for n in range(1000)]).events) == 1000
    with pytest.raises(BadPayload, match="more than 1000"):
        parse([hubspot_event(eventId=n) for n in range(1001)])


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (42, "event 1 is not an object"),
        ([hubspot_event()], "event 1 is not an object"),
        ({k: v for k, v in hubspot_event().items() if k != "subscriptionType"}, "subscriptionType"),
        (hubspot_event(subscriptionType=7), "subscriptionType must be a string"),
        ({k: v for k, v in hubspot_event().items() if k != "objectId"}, "objectId"),
        (hubspot_event(objectId="123"), "objectId must be an integer"),
        (hubspot_event(objectId=True), "objectId must be an integer"),
        (hubspot_event(objectId=None), "objectId must be an integer"),
        (hubspot_event(occurredAt=1.5), "occurredAt must be an integer"),
        (hubspot_event(occurredAt="2026-11-23"), "occurredAt must be an integer"),
        ({k: v for k, v in hubspot_event().items() if k != "eventId"}, "eventId"),
        (hubspot_event(eventId="100"), "eventId must be an integer"),
    ],
)
def test_a_malformed_event_is_a_bad_payload_naming_it(event: Any, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason):
        parse([hubspot_event(), event])


def test_creations_of_companies_and_contacts_are_kept_as_received() -> None:
    company = hubspot_event("company.creation", objectId=11)
    contact = hubspot_event("contact.creation", objectId=22)
    parsed = parse_events(json.dumps([company, contact]).encode(), watched={})
    assert parsed.ignored == 0
    first, second = parsed.events
    assert (first.source, first.object_type, first.object_id, first.event_type) == (
        "hubspot",
        "company",
        "11",
        "company.creation",
    )
    assert (second.object_type, second.object_id, second.event_type) == (
        "contact",
        "22",
        "contact.creation",
    )
    assert first.payload == company
    assert first.dedupe_key == dedupe_key(company)


def test_changes_of_watched_properties_are_kept() -> None:
    parsed = parse([change("company", "industry"), change("company", "numberofemployees")])
    assert [e.event_type for e in parsed.events] == ["company.propertyChange"] * 2
    assert parsed.ignored == 0


def test_icpbots_own_write_back_is_ignored_even_when_watched() -> None:
    watched = {"company": frozenset({"icp_score", "industry"}), "contact": frozenset({"icp_tier"})}
    events = [change("company", "icp_score", "87"), change("contact", "icp_tier", "A")]
    parsed = parse_events(json.dumps(events).encode(), watched=watched)
    assert (parsed.events, parsed.ignored) == ([], 2)


def test_the_ignored_prefix_can_be_renamed() -> None:
    events = [change("company", "industry"), change("company", "icp_score")]
    watched = {"company": frozenset({"industry", "icp_score"})}
    parsed = parse_events(json.dumps(events).encode(), watched=watched, ignored_prefix="ind")
    assert [e.payload["propertyName"] for e in parsed.events] == ["icp_score"]


def generic(change: str, type_id: str, **fields: Any) -> dict[str, Any]:
    """An event of HubSpot's generic subscriptions: `object.*`, the type in `objectTypeId`."""
    return hubspot_event(f"object.{change}", objectTypeId=type_id, **fields)


def test_generic_subscriptions_are_kept_as_their_legacy_twins() -> None:
    events = [
        generic("creation", "0-2", objectId=11),
        generic("creation", "0-1", objectId=22),
        generic("propertyChange", "0-2", propertyName="industry", propertyValue="v"),
    ]
    parsed = parse(events)
    assert parsed.ignored == 0
    assert [(e.object_type, e.object_id, e.event_type) for e in parsed.events] == [
        ("company", "11", "company.creation"),
        ("contact", "22", "contact.creation"),
        ("company", "123", "company.propertyChange"),
    ]
    assert parsed.events[0].payload == events[0]


def test_one_change_in_both_formats_has_one_key() -> None:
    """A portal subscribed both ways gets each change twice: it is stored once."""
    legacy = parse([change("company", "industry")]).events
    twin = parse([generic("propertyChange", "0-2", propertyName="industry", propertyValue="v")])
    assert [e.dedupe_key for e in twin.events] == [e.dedupe_key for e in legacy]


@pytest.mark.parametrize(
    "event",
    [
        generic("creation", "0-3"),  # a deal
        generic("creation", "2-1234"),  # a custom object
        hubspot_event("object.creation"),  # no objectTypeId
        generic("propertyChange", "0-2", propertyName="hs_lastmodifieddate"),  # not watched
        generic("propertyChange", "0-2", propertyName="icp_score"),  # our own write-back
        generic("deletion", "0-2"),
        generic("creation", 2),  # objectTypeId is text
    ],
)
def test_generic_events_of_other_objects_or_changes_are_ignored(event: dict[str, Any]) -> None:
    parsed = parse([event, hubspot_event()])
    assert (len(parsed.events), parsed.ignored) == (1, 1)


@pytest.mark.parametrize(
    "event",
    [
        change("company", "hs_lastmodifieddate"),  # not watched
        change("contact", "industry"),  # watched for companies, not contacts
        hubspot_event("company.propertyChange"),  # no propertyName
        change("company", "industry") | {"propertyName": 7},
        hubspot_event("company.deletion"),
        hubspot_event("company.associationChange"),
        hubspot_event("contact.privacyDeletion"),
        hubspot_event("deal.creation"),
        change("deal", "industry"),
        hubspot_event("creation"),
        hubspot_event(""),
    ],
)
def test_other_events_are_counted_as_ignored(event: dict[str, Any]) -> None:
    parsed = parse([event, hubspot_event()])
    assert (len(parsed.events), parsed.ignored) == (1, 1)


def test_an_empty_delivery_is_valid_and_holds_nothing() -> None:
    parsed = parse([])
    assert (parsed.events, parsed.ignored) == ([], 0)


# --- deduplication ---------------------------------------------------------------------------


def test_the_dedupe_key_is_the_sha256_of_the_events_content() -> None:
    event = change("company", "industry", "software", objectId=5, occurredAt=1700000000000)
    content = ["company.propertyChange", 5, 1700000000000, "industry", "software"]
    expected = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    assert dedupe_key(event) == expected
    # Pinned: keys already stored must still match after any change to the code.
    assert expected == "3d87a598afb24e7f222a71ec35253aa7e82603209171905100b4a9bfd97309e0"


def test_a_redelivery_has_the_same_key_whatever_its_event_id_or_attempt() -> None:
    first = change("company", "industry", "saas")
    retried = first | {"eventId": 999, "attemptNumber": 3, "subscriptionId": 8}
    assert dedupe_key(first) == dedupe_key(retried)
    assert dedupe_key(dict(reversed(list(first.items())))) == dedupe_key(first)


@pytest.mark.parametrize(
    "other",
    [
        {"propertyValue": "software"},
        {"propertyName": "numberofemployees"},
        {"occurredAt": 1_763_888_400_001},
        {"objectId": 124},
        {"subscriptionType": "contact.propertyChange"},
    ],
)
def test_a_different_change_has_a_different_key(other: dict[str, Any]) -> None:
    event = change("company", "industry", "saas")
    assert dedupe_key(event) != dedupe_key(event | other)


def test_a_creation_key_ignores_absent_property_fields() -> None:
    event = hubspot_event("company.creation")
    content = ["company.creation", 123, 1_763_888_400_000, None, None]
    expected = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
    assert dedupe_key(event) == expected
