"""The embedded Prefect server starts from a migrated database kept once per Prefect version."""

from __future__ import annotations

from tests.core.test_db_template import run_twice_with_a_fresh_cache


def test_the_second_cli_run_starts_from_the_template(tmp_path):
    (first, log1), (second, log2) = run_twice_with_a_fresh_cache(tmp_path, "prefect")
    assert "database template kept at" in log1 and "already migrated" not in log1
    assert "already migrated" in log2 and "template kept" not in log2
    for report in (first, second):
        assert report["state"] == "succeeded"
        assert report["groups"]["g"]["members"]["only"]["state"] == "succeeded"
