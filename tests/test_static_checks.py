"""Static checks (ruff lint, ruff format, mypy) run as tests.

CI runs exactly the README's two commands (``tests/test_readme_ci.py``), so the static checks
ride on the second one, ``python -m pytest``, instead of being a third command. The tools come
from the ``test`` extra that the README's first command installs: a missing tool is a broken
install and fails here rather than skipping, so a clean tree cannot pass by accident.

Each tool runs in a subprocess from the repository root, so it reads the configuration in
``pyproject.toml`` (ruff's line length and rule selection; mypy at its default settings).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What each check covers: the package and its plugins, plus the tests and examples for ruff.
LINTED = ["bitsback_core", "plugins", "tests", "examples"]
TYPED = ["bitsback_core", "plugins"]

CHECKS = {
    "ruff check": ("ruff", ["check", *LINTED]),
    # One line per file (the full diffs of a tree-wide change would bury the list).
    "ruff format": ("ruff", ["format", "--check", "--output-format", "concise", *LINTED]),
    "mypy": ("mypy", TYPED),
}

#: The packages of the ``test`` extra the checks need (the tools and the stubs mypy reads).
TOOL_REQUIREMENTS = ["ruff", "mypy", "types-PyYAML", "scipy-stubs"]


def _run_tool(module: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from the repository root, with this interpreter."""
    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"{module} is not installed in {sys.executable}; the README's install command "
            f'(pip install -e ".[test]") installs it'
        )
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.mark.parametrize("check", list(CHECKS))
def test_static_check_is_clean(check: str) -> None:
    module, args = CHECKS[check]
    done = _run_tool(module, args)
    if done.returncode != 0:
        command = " ".join([module, *args])
        pytest.fail(
            f"`{command}` failed (exit {done.returncode}):\n{done.stdout}{done.stderr}",
            pytrace=False,
        )


def test_test_extra_installs_the_tools() -> None:
    """The tools the checks run are in the ``test`` extra, so the README's install has them."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r"^test = \[(.*?)^\]", text, re.DOTALL | re.MULTILINE)
    assert match is not None, "pyproject.toml has no test extra"
    listed = {
        re.split(r"[<>=!~;\[ ]", line.strip().strip('",'), maxsplit=1)[0].lower()
        for line in match.group(1).splitlines()
        if line.strip().startswith('"')
    }
    missing = [name for name in TOOL_REQUIREMENTS if name.lower() not in listed]
    assert not missing, f"the test extra lacks {missing}"
