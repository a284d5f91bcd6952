"""``groupplug --version``: the installed distribution's version, which the source agrees with."""

from __future__ import annotations

from importlib.metadata import version

import groupplug
from groupplug.cli import main


def test_version_flag_prints_the_installed_version(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:  # argparse's version action exits 0 after printing
        assert stop.code == 0
    assert capsys.readouterr().out == f"groupplug {version('groupplug')}\n"


def test_source_version_matches_the_installed_metadata():
    # pyproject.toml and groupplug.__version__ are written by hand: a release that bumps one
    # and not the other would print one version and report another.
    assert groupplug.__version__ == version("groupplug")

