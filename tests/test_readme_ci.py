"""CI runs exactly the README's two commands (Quick start, Tests), and the first needs no ../shared."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_bash_block(readme: str, heading: str) -> str:
    section = readme.split(f"## {heading}\n", 1)[1]
    match = re.search(r"```bash\n(.*?)\n```", section, re.DOTALL)
    assert match is not None, f"no bash block under {heading}"
    return match.group(1).strip()


def test_ci_runs_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [_first_bash_block(readme, "Quick start"), _first_bash_block(readme, "Tests")]
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == commands
    assert "shared" not in commands[0]  # the first command needs nothing but the clone
