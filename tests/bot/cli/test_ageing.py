"""`icpbot age` (and its old name, `rescore`): what the calendar moved, listed, then re-scored."""

from __future__ import annotations

from pathlib import Path

from tests.support import icpbot, sample_store


def test_rescore_lists_what_aged_then_rescores_it(tmp_path: Path) -> None:
    env = sample_store(tmp_path)
    assert (
        "0 records due" in icpbot("rescore", "--dry-run", "--as-of", "2026-11-20", env=env).stderr
    )
    preview = icpbot("age", "--dry-run", "--as-of", "2027-03-01", env=env)
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.splitlines()
    assert lines and all(" → " in line for line in lines)
    # every line says why: the criterion the calendar moved, its rule and value
    assert all(" · " in line for line in lines), [ln for ln in lines if " · " not in ln]
    assert any("funding no longer matches (last_funding_at within" in line for line in lines)
    assert f"{len(lines):,} records due" in preview.stderr and "nothing changed" in preview.stderr
    done = icpbot("age", "--as-of", "2027-03-01", env=env)
    assert done.returncode == 0 and f"{len(lines)} re-scored in the store" in done.stderr
    again = icpbot("age", "--dry-run", "--as-of", "2027-03-01", env=env)
    assert again.stdout == "" and "0 records due" in again.stderr


def test_a_bad_rescore_cron_is_named_not_a_traceback() -> None:
    done = icpbot("rescore", "--dry-run", env={"ICPBOT_RESCORE_CRON": "every day"})
    assert done.returncode == 1
    assert "ICPBOT_RESCORE_CRON" in done.stderr and "Traceback" not in done.stderr
