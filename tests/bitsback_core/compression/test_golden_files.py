"""Golden files: small ``.bbz`` files of every coder that this and every later release must read.

Each file decodes (through the public ``decompress_file``, in portable arithmetic) to images
with the recorded sha256, and encoding those images again with the recorded settings gives
the very same bytes. A failure means files users already keep would no longer decode:
either a bug, or a format change that needs a version bump (``docs/format.md``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from bitsback_core.pipeline.files import compress_to_file, decompress_file
from bitsback_core.registry import Registry, load_registry

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
from make_golden import ROOT, case_config, golden_images, images_sha256  # noqa: E402

RECORD = json.loads((GOLDEN / "golden.json").read_text())


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.mark.parametrize("name", sorted(RECORD))
def test_golden_file_decodes_and_reencodes_to_the_same_bytes(
    name: str, registry: Registry, tmp_path: Path
) -> None:
    entry = RECORD[name]
    path = GOLDEN / f"{name}.bbz"
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["file_sha256"], (
        "the golden file itself changed"
    )
    images, _ = decompress_file(path, registry)
    assert images_sha256(images) == entry["images_sha256"]
    assert images_sha256(golden_images(entry["layout"])) == entry["images_sha256"]
    values = dict(entry["values"], checkpoint=str(ROOT / entry["values"]["checkpoint"]))
    again = tmp_path / "again.bbz"
    fallback = entry.get("fallback", "never")  # files from before the classical fallback: "never"
    written = compress_to_file(
        case_config(values), registry, images, again, frame_images=entry["frame_images"],
        verify=False, fallback=fallback, fallback_codecs=entry.get("fallback_codecs"),
    )  # fmt: skip
    assert again.read_bytes() == data
    assert list(written.frame_codecs) == entry.get("frame_codecs", [0] * written.num_frames)


def test_golden_files_decode_in_another_process_and_float_environment(tmp_path: Path) -> None:
    """The same digests from a fresh process with one thread, ATen's plain kernels, MKL's
    compatible mode and the numpy-integer network evaluator."""
    import os
    import subprocess

    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(GOLDEN)!r})\n"
        "from pathlib import Path\n"
        "from make_golden import images_sha256\n"
        "from bitsback_core.pipeline.files import decompress_file\n"
        "from bitsback_core.registry import load_registry\n"
        "registry = load_registry()\n"
        f"names = {sorted(RECORD)!r}\n"
        f"print(json.dumps({{n: images_sha256(decompress_file(Path({str(GOLDEN)!r}) / (n + '.bbz'), registry)[0]) for n in names}}))\n"
    )
    env = {
        **os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE", "BITSBACK_PORTABLE_EVALUATOR": "numpy",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    digests = json.loads(done.stdout.strip().splitlines()[-1])
    assert digests == {name: RECORD[name]["images_sha256"] for name in RECORD}
