"""Install tests: groupplug as a user gets it, a wheel built from this checkout.

``wheel`` builds it once per session (``pip wheel . --no-deps``, as CI does). The stack tests
need the oldest-engine environments that ``scripts/envs airflow-oldest prefect-oldest`` makes;
``scripts/test install`` names them with ``--stack VENV=EXTRA`` (one per environment).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    parser.addoption("--stack", action="append", default=[], metavar="VENV=EXTRA",
                     help="an environment holding a user's engine stack, and the groupplug "
                          "extra to install into it (e.g. .venv-airflow-oldest=airflow)")


def pytest_generate_tests(metafunc):
    if "stack" in metafunc.fixturenames:
        stacks = [tuple(s.split("=", 1)) for s in metafunc.config.getoption("stack")]
        metafunc.parametrize("stack", stacks or [pytest.param(None, marks=pytest.mark.skip(
            reason="no --stack VENV=EXTRA given; scripts/test install passes them"))],
            ids=[s[1] for s in stacks] or None)


def run(*argv: str | Path, **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv``; on failure the assertion shows its output."""
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))} -> {proc.returncode}\n" \
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, REPO)
    (built,) = out.glob("groupplug-*.whl")
    return built
