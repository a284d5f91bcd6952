"""Installing groupplug into a user's engine stack changes none of the stack's packages.

Each ``--stack VENV=EXTRA`` environment holds a stack at the oldest supported engine
(``scripts/envs``: the engine pinned by ``scripts/oldest.txt``, then groupplug). The test takes
groupplug out, records ``pip freeze``, installs the built wheel with the extra as a user would
(``pip install 'groupplug-X.whl[airflow]'``), and compares: the only difference allowed is
groupplug itself. It then puts the checkout's editable install back for the compat suites.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import REPO, run

PIP = ("-m", "pip", "--disable-pip-version-check")


def _freeze(python: Path) -> dict[str, str]:
    """``pip freeze`` as {name: version}; a package installed from a file is 'name @ URL'."""
    frozen = {}
    for line in run(python, *PIP, "freeze", "--all").stdout.splitlines():
        name, sep, rest = line.partition("==") if "==" in line else line.partition(" @ ")
        if sep:
            frozen[name.strip().lower()] = rest.strip()
    return frozen


def test_installing_the_extra_changes_no_package_of_the_stack(stack, wheel, capsys):
    venv, extra = stack
    # Not .resolve(): a venv's bin/python is a symlink to the base interpreter, and pip run
    # through the resolved path would install into that interpreter instead of the venv.
    python = REPO / venv / "bin" / "python"
    assert python.exists(), f"{venv} is missing: scripts/envs {venv.removeprefix('.venv-')}"
    run(python, *PIP, "uninstall", "--yes", "--quiet", "groupplug")
    try:
        before = _freeze(python)
        run(python, *PIP, "install", "--quiet", f"{wheel}[{extra}]")
        after = _freeze(python)
    finally:
        run(python, *PIP, "install", "--quiet", "--no-deps", "-e", REPO)
    changed = {name: (before.get(name), after.get(name))
               for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    with capsys.disabled():  # the measured difference, in the CI log
        print(f"\n{venv}: pip freeze after installing groupplug[{extra}] differs in {changed}")
    assert list(changed) == ["groupplug"]
    assert changed["groupplug"][0] is None and wheel.name in changed["groupplug"][1]
