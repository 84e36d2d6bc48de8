"""`icpbot score DOMAIN` and `icpbot explain DOMAIN`: a stored account, as a user asks for it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support import SUMMARY_KEYS, icpbot, sample_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A store backfilled from the sample CRM, once for the tests below."""
    env = sample_store(tmp_path_factory.mktemp("store"))
    yield env


def test_score_and_explain_a_stored_domain(store: dict[str, str]) -> None:
    done = icpbot("score", "zoquiera.com", "--json", "--as-of", "2026-11-20", env=store)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert set(line) == SUMMARY_KEYS and line["tier"] == "A"
    explained = icpbot("explain", "https://www.zoquiera.com/", "--as-of", "2026-11-20", env=store)
    assert explained.returncode == 0, explained.stderr
    assert "Zoquiera" in explained.stdout and "Matched" in explained.stdout


def test_explain_shows_the_persona_fit_of_the_best_contact(store: dict[str, str]) -> None:
    """What `/icp` shows, `explain` shows: the best-fitting contact's persona fit."""
    explained = icpbot("explain", "canopyanalytics.com", "--as-of", "2026-11-20", env=store)
    assert explained.returncode == 0, explained.stderr
    assert "Persona fit: Rahul Gupta, VP Sales · 🔵 Tier B · 60/100" in explained.stdout
    assert "revenue-leader +40" in explained.stdout


def test_explain_an_unknown_domain(store: dict[str, str]) -> None:
    done = icpbot("explain", "nowhere.example", env=store)
    assert done.returncode == 1 and "not in the store" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_score_that_differs_from_the_stored_one_says_what_moved(store: dict[str, str]) -> None:
    """The store was scored as of the sample's date; today's score names what differs."""
    done = icpbot("score", "zenithfinance.com", "--as-of", "2026-12-03", env=store)
    assert done.returncode == 0, done.stderr
    was = done.stdout.splitlines()[-1]
    assert was.startswith("  was 60 B when scored as of 2026-11-20; what differs: ")
    assert "hiring-sdrs no longer matches (sdr_hiring_posted_at within the last 90 days" in was
    explained = icpbot("explain", "zenithfinance.com", "--as-of", "2026-12-03", env=store)
    assert "· was 60 B on 2026-11-20" in explained.stdout


def test_digest_preview_of_a_dated_store_shows_its_latest_week(store: dict[str, str]) -> None:
    """The sample's accounts are new up to 2026-11-20: an empty calendar week is not the
    preview's default; the note says which week is shown and how to see the empty one."""
    done = icpbot("digest", "--dry-run", "--as-of", "2026-12-10", env=store)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert "no account is new in 2026-W49, the last full week; showing 2026-W47" in said
    assert "ICP digest, week 2026-W47" in done.stdout
    assert "51 new accounts this week" in done.stdout
    asked = icpbot("digest", "--dry-run", "--week", "2026-W49", "--as-of", "2026-12-10", env=store)
    assert "0 new accounts this week" in asked.stdout and "note" not in asked.stderr


def test_posting_a_digest_without_slack_names_the_setting_and_the_dry_run(
    store: dict[str, str],
) -> None:
    done = icpbot("digest", env={**store, "SLACK_BOT_TOKEN": ""})
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and "Traceback" not in said
    assert "posting the digest needs SLACK_BOT_TOKEN" in said and "digest --dry-run" in said
