"""``examples/library_api.py`` runs as a user would run it and reports a consistent coding."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "library_api.py"
MODEL = REPO / "checkpoints" / "bin_emnist_split=mnist_iwae5" / "model.pt"

pytestmark = pytest.mark.skipif(
    not MODEL.is_file(), reason=f"the project's checkpoint {MODEL} is absent"
)


def test_the_example_composes_codes_and_decodes(tmp_path: Path) -> None:
    # From another folder: the script must find the project's model by name, not by cwd.
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--num-images", "3", "--num-particles", "2"],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "coder='TracingISCoder'" in out and "num_particles=2" in out
    assert "3 images ->" in out and "decoded exactly" in out
    per_image = re.search(r"net bits per image: (.*)", out)
    assert per_image is not None and len(per_image.group(1).split()) == 3
    stock = re.search(r"stock ISBitsBackCoder net bits (\S+) \(traced (\S+)\)", out)
    assert stock is not None and stock.group(1) == stock.group(2)  # a subclass changes no bit
    bpd = dict(re.findall(r"(ideal|net|total|file) (\d+\.\d+)", out))
    assert set(bpd) == {"ideal", "net", "total", "file"}
    assert float(bpd["net"]) < float(bpd["total"]) <= float(bpd["file"])
    assert list(tmp_path.iterdir()) == []  # the file went to a temporary folder
