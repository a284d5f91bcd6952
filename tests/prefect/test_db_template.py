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


def test_a_kept_home_is_never_made_a_template(tmp_path, monkeypatch):
    """A home kept between runs (``GROUPPLUG_PREFECT_HOME``) holds their runs: it is used as
    it is, and never copied into other runs' servers."""
    from groupplug import db_template
    from groupplug.prefect._server import PrefectServer, _template_name

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(db_template.ENV, raising=False)
    home = tmp_path / "kept"
    PrefectServer(home=home).start().stop()  # a new database: kept as the template
    template = db_template.template_path(_template_name())
    assert template is not None and template.is_file()
    template.unlink()
    PrefectServer(home=home).start().stop()  # the kept database: used, not kept
    assert (home / "prefect.db").is_file() and not template.exists()
