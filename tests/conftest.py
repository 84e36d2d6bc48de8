"""Shared fixtures. The storage ones give each test a migrated database.

Every storage test runs on SQLite (a temporary file) and, when
ICPBOT_TEST_DATABASE_URL points at a PostgreSQL database (`make
test-postgres` starts a throwaway one), on PostgreSQL too, in a schema of
its own per test module that is dropped afterwards. Each test's writes are
rolled back, so tests in a module never see each other's rows.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, make_url
from sqlmodel import Session

from bot.store.db import make_engine, migrate
from tests.fakes.salesforce import SHIPPED_CUSTOM, FakeSalesforce
from tests.fakes.salesforce_pubsub import FakePubSub

POSTGRES_URL = os.environ.get("ICPBOT_TEST_DATABASE_URL", "")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(scope="module", params=DATABASES)
def db_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database for this test module: SQLite, and PostgreSQL when configured."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "icpbot.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        yield engine
        engine.dispose()
    else:
        yield from _postgres_schema(request.module.__name__)


def _postgres_schema(module: str) -> Iterator[Engine]:
    """A fresh schema, first on the search path, dropped with everything in it afterwards."""
    schema = f"t_{re.sub(r'[^a-z0-9]+', '_', module.lower())[-40:]}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even if the test commits."""
    with db_engine.connect() as connection:
        transaction = connection.begin()
        if connection.dialect.name == "sqlite":
            # pysqlite only opens the real transaction at the first write; open it now,
            # so the savepoints a commit inside the test turns into nest inside it.
            connection.exec_driver_sql("BEGIN")
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture(autouse=True)
def _no_real_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real CRM or Slack: their credentials and URLs never leak in."""
    for name in list(os.environ):
        if name.startswith(("HUBSPOT_", "SLACK_", "SALESFORCE_")):
            monkeypatch.delenv(name)
    # A Salesforce `serve` listens to Change Data Capture: unless a test names its fake
    # Pub/Sub API, the listener dials a closed local port, never Salesforce's.
    monkeypatch.setenv("SALESFORCE_PUBSUB_TARGET", "127.0.0.1:9")


# -- Salesforce's Change Data Capture: the fake org and its Pub/Sub API ---------------------------


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    """The fake Salesforce org (with the shipped custom fields) after `icpbot crm setup
    salesforce` selected Lead, Account and Opportunity for Change Data Capture, trusted by
    requests."""
    selected = ("Lead", "Account", "Opportunity")
    with FakeSalesforce(custom_fields=SHIPPED_CUSTOM, cdc_selected=selected) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server


@pytest.fixture
def pubsub(org: FakeSalesforce) -> Iterator[FakePubSub]:
    """That org's Pub/Sub API, with keepalives every 0.1 s."""
    with FakePubSub(org, keepalive=0.1) as server:
        yield server
