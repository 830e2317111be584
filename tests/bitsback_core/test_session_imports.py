"""The session and the pipeline modules built on it import in any order.

``bitsback_core.pipeline`` imports ``run`` when it loads, ``run``/``bench``/``evaluate``
build their setup through the session, and the session imports pipeline modules: whichever
a program imports first must load without a circular-import error. Each case runs in a
fresh interpreter, since in this one everything is already imported.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

FIRST_IMPORTS = [
    "bitsback_core.session",
    "bitsback_core.pipeline",
    "bitsback_core.pipeline.run",
    "bitsback_core.pipeline.bench",
    "bitsback_core.pipeline.evaluate",
    "bitsback_core.pipeline.files",
]


@pytest.mark.parametrize("module", FIRST_IMPORTS)
def test_a_module_imported_first_loads(module: str) -> None:
    code = f"import {module}; from bitsback_core.session import CodingSession; print(CodingSession.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "CodingSession"
