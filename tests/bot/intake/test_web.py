"""The web app over real HTTP: uvicorn on a free port, signed deliveries, a SQLite file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.intake.web import WebhookSettings, create_app, signature_base
from bot.metrics import Metrics
from bot.store import inbox
from bot.store.db import make_engine, migrate
from bot.store.db import session as open_session
from bot.store.tables import InboxEvent
from tests.support import ServerThread, Woken

SECRET = "test-client-secret"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WATCHED = {"company": frozenset({"industry"}), "contact": frozenset({"jobtitle"})}
PATH = "/webhooks/hubspot"


def hubspot_event(subscription: str, object_id: int, **fields: Any) -> dict[str, Any]:
    event = {
        "eventId": object_id * 10,
        "subscriptionId": 1,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(NOW.timestamp() * 1000) - 1000,
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
    }
    return event | fields


DELIVERY = [
    hubspot_event("company.creation", 1),
    hubspot_event("contact.propertyChange", 2, propertyName="jobtitle", propertyValue="VP Sales"),
    hubspot_event("deal.creation", 3),
]


def sign(url: str, body: bytes, *, secret: str = SECRET, at: datetime = NOW) -> dict[str, str]:
    """The headers HubSpot sends: v3 = base64(HMAC-SHA256(method + uri + body + timestamp))."""
    timestamp = str(int(at.timestamp() * 1000))
    source = b"POST" + url.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=10)


def deliver(base_url: str, events: Any, **signing: Any) -> requests.Response:
    url = base_url + PATH
    body = json.dumps(events).encode()
    return post(url, body, sign(url, body, **signing))


@dataclass
class App:
    database: Engine
    metrics: Metrics
    base_url: str
    woken: Woken

    def rows(self) -> list[InboxEvent]:
        with Session(self.database) as session:
            return list(session.exec(select(InboxEvent).order_by(InboxEvent.id)))  # type: ignore[arg-type]

    def count(self) -> int:
        with Session(self.database) as session:
            return session.exec(select(func.count()).select_from(InboxEvent)).one()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database file, made once: each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "icpbot.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # closing the last connection folds the WAL into the file
    return path


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "icpbot.db"
    shutil.copyfile(migrated, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def serve_app(
    database: Engine,
    *,
    hubspot: WebhookSettings | None,
    clock: Callable[[], datetime],
    trusted_proxies: str = "127.0.0.1",
) -> Iterator[App]:
    metrics = Metrics(database=database)
    woken = Woken()
    app = create_app(
        database=database,
        metrics=metrics,
        hubspot=hubspot,
        drain=woken,
        clock=clock,
    )
    with ServerThread(app, trusted_proxies=trusted_proxies) as base_url:
        yield App(database, metrics, base_url, woken)


@pytest.fixture
def served(database: Engine) -> Iterator[App]:
    yield from serve_app(
        database, hubspot=WebhookSettings(client_secret=SECRET, watched=WATCHED), clock=lambda: NOW
    )


# --- deliveries ------------------------------------------------------------------------------


def test_a_signed_delivery_is_stored_and_acknowledged(served: App) -> None:
    response = deliver(served.base_url, DELIVERY)
    assert response.status_code == 200
    assert response.json() == {"stored": 2, "duplicates": 0, "ignored": 1}
    rows = served.rows()
    assert [(r.object_type, r.object_id, r.event_type, r.status) for r in rows] == [
        ("company", "1", "company.creation", "pending"),
        ("contact", "2", "contact.propertyChange", "pending"),
    ]
    assert rows[0].payload == DELIVERY[0]
    assert rows[0].received_at == NOW and rows[0].source == "hubspot"
    assert served.woken.times == 1


def test_a_redelivery_is_acknowledged_and_stored_nothing_new(served: App) -> None:
    assert deliver(served.base_url, DELIVERY).status_code == 200
    # HubSpot retries with a new timestamp and signature, and a new attempt number.
    retry = [event | {"attemptNumber": 1} for event in DELIVERY]
    response = deliver(served.base_url, retry, at=NOW - timedelta(seconds=30))
    assert response.status_code == 200
    assert response.json() == {"stored": 0, "duplicates": 2, "ignored": 1}
    assert served.count() == 2
    assert served.woken.times == 1  # nothing new: the worker is not woken again


def test_a_delivery_of_only_icpbots_own_write_back_is_ignored(served: App) -> None:
    own = [
        hubspot_event("company.propertyChange", 5, propertyName="icp_score", propertyValue="87"),
        hubspot_event("contact.propertyChange", 6, propertyName="icp_tier", propertyValue="A"),
    ]
    response = deliver(served.base_url, own)
    assert (response.status_code, response.json()) == (
        200,
        {"stored": 0, "duplicates": 0, "ignored": 2},
    )
    assert served.count() == 0
    assert served.woken.times == 0


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "not-the-secret"},
        {"at": NOW - timedelta(minutes=6)},  # stale: a replay
        {"at": NOW + timedelta(minutes=6)},
    ],
)
def test_a_delivery_not_signed_by_hubspot_just_now_is_refused(
    served: App, signing: dict[str, Any]
) -> None:
    response = deliver(served.base_url, DELIVERY, **signing)
    assert response.status_code == 401
    assert "error" in response.json()
    assert served.count() == 0
    assert served.woken.times == 0


@pytest.mark.parametrize(
    "missing",
    [
        ["X-HubSpot-Signature-v3"],
        ["X-HubSpot-Request-Timestamp"],
        ["X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"],
    ],
)
def test_a_delivery_without_its_signature_headers_is_refused(
    served: App, missing: list[str]
) -> None:
    url = served.base_url + PATH
    body = json.dumps(DELIVERY).encode()
    headers = {k: v for k, v in sign(url, body).items() if k not in missing}
    response = post(url, body, headers)
    assert response.status_code == 401
    assert "missing" in response.json()["error"]
    assert served.count() == 0


def test_a_body_changed_after_signing_is_refused(served: App) -> None:
    url = served.base_url + PATH
    body = json.dumps(DELIVERY).encode()
    headers = sign(url, body)
    response = post(url, body.replace(b'"objectId": 1,', b'"objectId": 9,'), headers)
    assert response.status_code == 401
    assert served.count() == 0


def test_a_signature_for_another_url_is_refused(served: App) -> None:
    url = served.base_url + PATH
    body = json.dumps(DELIVERY).encode()
    response = post(url, body, sign("https://elsewhere.example" + PATH, body))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"eventId": 1}', "JSON array"),
        (json.dumps([{"eventId": 1, "objectId": 2}]).encode(), "subscriptionType"),
        (json.dumps([hubspot_event("company.creation", 1), "x"]).encode(), "not an object"),
        (json.dumps([hubspot_event("company.creation", 1, objectId="1")]).encode(), "objectId"),
    ],
)
def test_a_signed_but_malformed_delivery_is_a_bad_request(
    served: App, body: bytes, reason: str
) -> None:
    url = served.base_url + PATH
    response = post(url, body, sign(url, body))
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert served.count() == 0


def test_a_malformed_delivery_without_a_valid_signature_is_unauthorized(served: App) -> None:
    url = served.base_url + PATH
    response = post(url, b"{not json", sign(url, b"other"))
    assert response.status_code == 401


def test_a_delivery_over_two_megabytes_is_refused(served: App) -> None:
    url = served.base_url + PATH
    body = b"[" + b" " * (2 * 1024 * 1024) + b"]"
    response = post(url, body, sign(url, body))
    assert response.status_code == 413
    assert served.count() == 0


def test_without_hubspot_settings_the_endpoint_is_not_found(database: Engine) -> None:
    for app in serve_app(database, hubspot=None, clock=lambda: NOW):
        response = deliver(app.base_url, DELIVERY)
        assert response.status_code == 404
        assert requests.get(app.base_url + "/healthz", timeout=10).status_code == 200


def test_behind_a_proxy_the_public_url_is_what_was_signed(database: Engine) -> None:
    public = "https://icpbot.example.com"
    settings = WebhookSettings(client_secret=SECRET, watched=WATCHED, public_url=public + "/")
    for app in serve_app(database, hubspot=settings, clock=lambda: NOW):
        body = json.dumps(DELIVERY).encode()
        local = app.base_url + PATH + "?portal=1"
        assert post(local, body, sign(local, body)).status_code == 401
        response = post(local, body, sign(public + PATH + "?portal=1", body))
        assert response.status_code == 200
        assert response.json()["stored"] == 2


def from_proxy(url: str, body: bytes, headers: dict[str, str], proxy: str) -> int:
    """POST `body` from the address `proxy` (another loopback address), as a proxy sends on
    what HubSpot delivered to it over TLS; the answer's status."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=10, source_address=(proxy, 0)
    )
    try:
        forwarded = {**headers, "X-Forwarded-Proto": "https", "X-Forwarded-For": "54.174.62.1"}
        connection.request("POST", f"{parts.path}?{parts.query}", body=body, headers=forwarded)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(("trusted", "status"), [("127.0.0.2", 200), ("127.0.0.1", 401)])
def test_behind_a_trusted_tls_proxy_the_https_url_is_what_was_signed(
    database: Engine, trusted: str, status: int
) -> None:
    """No ICPBOT_PUBLIC_URL: the proxy at 127.0.0.2 says the delivery came as https; it is
    believed only when the proxy is trusted (ICPBOT_TRUSTED_PROXIES)."""
    settings = WebhookSettings(client_secret=SECRET, watched=WATCHED)
    for app in serve_app(database, hubspot=settings, clock=lambda: NOW, trusted_proxies=trusted):
        body = json.dumps(DELIVERY).encode()
        local = app.base_url + PATH + "?portal=1"
        signed_as = local.replace("http://", "https://")
        assert from_proxy(local, body, sign(signed_as, body), proxy="127.0.0.2") == status


def test_the_start_says_what_signatures_are_checked_against() -> None:
    assert "https://icpbot.example.com (ICPBOT_PUBLIC_URL)" in signature_base(
        "https://icpbot.example.com/", "127.0.0.1"
    )
    said = signature_base(None, "10.0.0.0/8")
    assert "X-Forwarded-Proto from 10.0.0.0/8" in said and "ICPBOT_PUBLIC_URL" in said


def test_percent_encoded_query_characters_are_signed_as_hubspot_decodes_them(
    served: App,
) -> None:
    body = json.dumps(DELIVERY).encode()
    sent = served.base_url + PATH + "?next=a%3Ab%2Cc%20d"
    response = post(sent, body, sign(served.base_url + PATH + "?next=a:b,c%20d", body))
    assert response.status_code == 200


def test_a_delivery_is_refused_with_503_when_it_cannot_be_stored(tmp_path: Path) -> None:
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        settings = WebhookSettings(client_secret=SECRET, watched=WATCHED)
        for app in serve_app(unmigrated, hubspot=settings, clock=lambda: NOW):
            response = deliver(app.base_url, DELIVERY)
            assert response.status_code == 503  # HubSpot delivers again later
            assert app.woken.times == 0
            assert 'icpbot_webhook_requests_total{outcome="error"} 1.0' in metrics_text(app)
    finally:
        unmigrated.dispose()


# --- health and metrics ----------------------------------------------------------------------


def test_health_reports_the_database_and_the_inbox(served: App) -> None:
    deliver(served.base_url, DELIVERY)
    response = requests.get(served.base_url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "inbox": {"pending": 2, "done": 0, "parked": 0},
    }


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    missing = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'icpbot.db'}")
    try:
        for app in serve_app(missing, hubspot=None, clock=lambda: NOW):
            response = requests.get(app.base_url + "/healthz", timeout=10)
            assert response.status_code == 503
            assert response.json()["database"] == "unreachable"
            # /metrics still answers, without the inbox gauges it cannot read.
            text = metrics_text(app)
            assert "icpbot_inbox_events{" not in text
            assert "icpbot_event_latency_seconds_count 0.0" in text
    finally:
        missing.dispose()


def metrics_text(app: App) -> str:
    response = requests.get(app.base_url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def test_metrics_count_deliveries_and_events(served: App) -> None:
    deliver(served.base_url, DELIVERY)
    deliver(served.base_url, DELIVERY)
    deliver(served.base_url, DELIVERY, secret="wrong")
    url = served.base_url + PATH
    post(url, b"{", sign(url, b"{"))
    text = metrics_text(served)
    for line in [
        'icpbot_webhook_requests_total{outcome="accepted"} 2.0',
        'icpbot_webhook_requests_total{outcome="unauthorized"} 1.0',
        'icpbot_webhook_requests_total{outcome="bad_request"} 1.0',
        'icpbot_webhook_events_total{result="stored"} 2.0',
        'icpbot_webhook_events_total{result="duplicate"} 2.0',
        'icpbot_webhook_events_total{result="ignored"} 2.0',
        'icpbot_inbox_events{status="pending"} 2.0',
        'icpbot_inbox_events{status="done"} 0.0',
        'icpbot_inbox_events{status="parked"} 0.0',
    ]:
        assert line in text


def test_metrics_show_parked_work_and_how_old_the_oldest_pending_event_is(served: App) -> None:
    deliver(served.base_url, DELIVERY)
    with open_session(served.database) as session:
        claimed = inbox.claim(
            session=session, worker="w", limit=1, now=NOW, lease=timedelta(minutes=1)
        )
        ids = [event.id for event in claimed if event.id is not None]
        assert inbox.fail(session=session, ids=ids, error="CRM down", now=NOW, max_attempts=1) == 1
    text = metrics_text(served)
    assert 'icpbot_inbox_events{status="parked"} 1.0' in text
    assert 'icpbot_inbox_events{status="pending"} 1.0' in text
    (age,) = [
        line for line in text.splitlines() if line.startswith("icpbot_inbox_oldest_pending_seconds")
    ]
    expected = (datetime.now(UTC) - NOW).total_seconds()
    assert abs(float(age.split()[1]) - expected) < 60


def test_the_other_counters_are_exposed_with_their_names() -> None:
    metrics = Metrics()
    metrics.records_tagged.labels(crm="hubspot", kind="account").inc(3)
    metrics.crm_requests.labels(crm="hubspot", outcome="rate_limited").inc()
    metrics.crm_retries.labels(crm="hubspot").inc()
    metrics.crm_writes.labels(crm="hubspot").inc(100)
    metrics.event_latency.observe(0.8)
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    for line in [
        'icpbot_records_tagged_total{crm="hubspot",kind="account"} 3.0',
        'icpbot_crm_requests_total{crm="hubspot",outcome="rate_limited"} 1.0',
        'icpbot_crm_retries_total{crm="hubspot"} 1.0',
        'icpbot_crm_records_written_total{crm="hubspot"} 100.0',
        'icpbot_event_latency_seconds_bucket{le="1.0"} 1.0',
        'icpbot_event_latency_seconds_bucket{le="60.0"} 1.0',
        "icpbot_event_latency_seconds_count 1.0",
    ]:
        assert line in text
    assert "icpbot_inbox_events" not in text  # no database, no inbox gauges
    assert Metrics().render()[0] != body  # every instance has its own registry


def test_server_thread_serves_until_the_block_ends(database: Engine) -> None:
    app = create_app(database=database, metrics=Metrics(), hubspot=None)
    with ServerThread(app) as base_url:
        assert requests.get(base_url + "/healthz", timeout=10).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "/healthz", timeout=2)
