"""``bitsback_vae.model.coding_threads`` under ``OMP_NUM_THREADS=1``, across processes.

Regression (issue 9): ``OMP_NUM_THREADS=1 bitsback compress ... --coder BB-CIS`` wrote files
that no setting could decode. ``coding_threads`` only called ``torch.set_num_threads(2)``
when ``torch.get_num_threads()`` was not already 2, but that count is OpenMP's, and numba's
OpenMP threading layer sets it to numba's own count (``NUMBA_NUM_THREADS``) on a parallel
kernel launch without touching MKL's count. After the first compiled kernel,
a process started with one thread reported 2 threads while MKL still multiplied with 1, so
the network's floats (and the quantized frequencies) depended on what the process had
done before. Encoder and decoder run different histories, so they disagreed.

The fix: always call ``torch.set_num_threads`` (it sets OpenMP's and MKL's counts). These
tests run in fresh subprocesses because the bug needs a process's start-up thread settings;
``NUMBA_NUM_THREADS`` is pinned to ``CODING_THREADS`` (2), the condition for the bug, so
they test it on any machine (with numba's OpenMP layer and an MKL build of torch; elsewhere
they pass trivially).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bitsback_vae.model import CODING_THREADS

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared"
RUN = SHARED / "checkpoints" / "mcbits-paper" / "train_bin_emnist_split=mnist_num=5"
EMNIST = SHARED / "data" / "emnist"


def _env(omp_threads: str | None) -> dict[str, str]:
    """This process's environment with ``OMP_NUM_THREADS`` set (or removed: the default)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "BITSBACK_DEBUG")}
    env["NUMBA_NUM_THREADS"] = str(CODING_THREADS)
    if omp_threads is not None:
        env["OMP_NUM_THREADS"] = omp_threads
    return env


_SAME_FLOATS_AFTER_NUMBA = textwrap.dedent(
    """
    import numba
    import numpy as np
    import torch

    from bitsback_vae.model import BinaryVAE
    from bitsback_vae.network import BinaryVAENetwork

    @numba.njit(parallel=True)
    def touch(a):
        for i in numba.prange(a.shape[0]):
            a[i] += 1.0

    torch.manual_seed(0)
    model = BinaryVAE(BinaryVAENetwork(50))
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 50))
    x = (rng.random((5, 784)) < 0.3).astype(np.uint8)
    before = model.likelihood_logits(z), model.posterior(x).mean
    touch(np.zeros(64))  # numba's OpenMP pool resets OpenMP's thread count
    after = model.likelihood_logits(z), model.posterior(x).mean
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    print("ok")
    """
)


def test_coding_floats_do_not_change_after_a_numba_kernel() -> None:
    """A process started with one thread: the same model call before and after numba runs."""
    done = subprocess.run(
        [sys.executable, "-c", _SAME_FLOATS_AFTER_NUMBA],
        env=_env("1"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


@pytest.fixture
def images_npy(tmp_path: Path) -> Path:
    if not (RUN.is_dir() and EMNIST.is_dir()):
        pytest.skip(f"shared checkpoints/data under {SHARED} are absent")
    from bitsback_core.config import Config
    from bitsback_core.pipeline.data import load_images
    from bitsback_core.registry import load_registry

    config = Config.from_mapping({"datadir": str(EMNIST), "num_compress": 12})
    path = tmp_path / "images.npy"
    np.save(path, load_images(config, load_registry()).reshape(12, 28, 28))
    return path


def _bitsback(*args: str, cwd: Path, omp_threads: str | None) -> None:
    script = shutil.which("bitsback")
    assert script is not None, "the bitsback console script is not installed (pip install -e .)"
    done = subprocess.run(
        [script, *args],
        cwd=cwd,
        env=_env(omp_threads),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"bitsback {' '.join(args)}: {done.stderr}"


def test_one_openmp_thread_encodes_what_every_setting_decodes(
    tmp_path: Path, images_npy: Path
) -> None:
    """The issue's command, on 12 images: encoded with and without OMP_NUM_THREADS=1.

    Both encoders must write the same bytes, and the OMP_NUM_THREADS=1 file must decode,
    in a new process, with OMP_NUM_THREADS=1 and with the default. The check inside
    ``compress`` is off: it decodes in the encoder's process, which shared the bug.
    """
    files = {}
    for omp in ("1", None):
        name = f"omp{omp or 'default'}.bbz"
        _bitsback(
            "compress", "-i", str(images_npy), "-o", name, "--no-verify",
            "--coder", "BB-CIS", "--num_particles", "5", "--arithmetic", "float",
            "--train_config", str(RUN / "train_config.yml"),
            cwd=tmp_path, omp_threads=omp,
        )  # fmt: skip
        files[omp] = (tmp_path / name).read_bytes()

    expected = np.load(images_npy)
    for omp in ("1", None):
        out = f"decoded{omp or 'default'}.npy"
        _bitsback(
            "decompress", "omp1.bbz", "-o", out, "--checkpoint", str(RUN / "model.pt"), cwd=tmp_path, omp_threads=omp
        )  # fmt: skip
        np.testing.assert_array_equal(np.load(tmp_path / out), expected)
    assert files["1"] == files[None], "the encoded bytes depend on OMP_NUM_THREADS"
