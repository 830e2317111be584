"""Portable arithmetic across float environments: same bytes, same images, other processes.

Each environment below changes something that changes float results on a real machine
(MKL's code path, ATen's SIMD level, thread counts, numba compiled or interpreted, the
network evaluated by torch's BLAS or by plain numpy integers). Portable arithmetic must
not notice: encoding gives the same bytes and decoding the same images in every one of
them, each in a fresh process (``portable_driver.py``), from bytes written by another.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from portable_driver import SETTINGS, setting_name  # type: ignore[import-not-found]

DRIVER = Path(__file__).with_name("portable_driver.py")

#: Environments that decode what the default environment encoded.
DECODE_ENVS: dict[str, dict[str, str]] = {
    "default": {},
    "one thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"},
    "MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
    "MKL_CBWR=AVX2": {"MKL_CBWR": "AVX2"},
    "MKL_CBWR=AVX512": {"MKL_CBWR": "AVX512"},
    "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default"},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "numba off": {"NUMBA_DISABLE_JIT": "1"},
    "numpy evaluator": {"BITSBACK_PORTABLE_EVALUATOR": "numpy"},
}
#: Environments whose encoder must write the default environment's bytes.
ENCODE_ENVS: dict[str, dict[str, str]] = {
    "one thread, ATen default, MKL compatible": {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
    },  # fmt: skip
    "numpy evaluator, numba off": {
        "BITSBACK_PORTABLE_EVALUATOR": "numpy",
        "NUMBA_DISABLE_JIT": "1",
    },
}


def _run(args: list[str], env: dict[str, str]) -> None:
    full = {**os.environ, **env}
    result = subprocess.run(
        [sys.executable, str(DRIVER), *args], env=full, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("portable")
    rng = np.random.default_rng(20261129)
    # Digit-like images: a smooth blob of ink per image, so the model's posteriors are ordinary.
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(9, 19, size=(6, 2))
    ink = np.exp(-(((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 30.0))
    images = (rng.random((6, 28, 28)) < ink).reshape(6, 784).astype(np.uint8)
    np.save(folder / "images.npy", images)
    _run(["encode", str(folder)], {})
    return folder


@pytest.mark.parametrize("env_name", sorted(DECODE_ENVS))
def test_decodes_in_another_process_and_environment(
    encoded: Path, tmp_path: Path, env_name: str
) -> None:
    _run(["decode", str(encoded), str(tmp_path)], DECODE_ENVS[env_name])
    images = np.load(encoded / "images.npy")
    for setting in SETTINGS:
        np.testing.assert_array_equal(np.load(tmp_path / f"{setting_name(*setting)}.npy"), images)


@pytest.mark.parametrize("env_name", sorted(ENCODE_ENVS))
def test_encodes_the_same_bytes_in_another_environment(
    encoded: Path, tmp_path: Path, env_name: str
) -> None:
    np.save(tmp_path / "images.npy", np.load(encoded / "images.npy"))
    _run(["encode", str(tmp_path)], ENCODE_ENVS[env_name])
    for setting in SETTINGS:
        name = f"{setting_name(*setting)}.bin"
        assert (tmp_path / name).read_bytes() == (encoded / name).read_bytes(), name
