"""Encode or decode a few images with portable arithmetic, in a process of its own.

Run by ``test_portability.py`` under different float environments (MKL_CBWR, ATEN CPU
capability, thread counts, numba off, the numpy evaluator)::

    python portable_driver.py encode FOLDER     # FOLDER/images.npy -> FOLDER/SETTING.bin
    python portable_driver.py decode FOLDER OUT  # FOLDER/SETTING.bin -> OUT/SETTING.npy

Each of :data:`SETTINGS` (BB-ELBO, BB-IS(3), BB-CIS(3) with two steps of iterative
inference, BB-IS(3) with the context VAE, whose pixels pop in raster order through its
row program, and BB-CIS(3) with iterative inference in portable model format 1) is coded with the project's own checkpoints (no ``../shared`` needed) through
the library: components, coder, chain layout, message bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.config import Config
from bitsback_core.pipeline.components import build_coder, build_components
from bitsback_core.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
CHECKPOINTS = {
    "elbo": ROOT / "checkpoints" / "bin_emnist_split=mnist_elbo" / "model.pt",
    "ctx": ROOT / "checkpoints" / "thr_emnist_split=mnist_ctx" / "model.pt",
}
LAYOUT = (2, 2)
#: (coder, particles, iterative-inference steps, model, portable model format): every code
#: path of the portable coders, in the default model format 2, and format 1 (the files of
#: releases before format 2) with iterative inference.
SETTINGS = (
    ("BitsBackCoder", 1, 0, "elbo", 2),
    ("ISBitsBackCoder", 3, 0, "elbo", 2),
    ("CISBitsBackCoder", 3, 2, "elbo", 2),
    ("ISBitsBackCoder", 3, 0, "ctx", 2),
    ("CISBitsBackCoder", 3, 2, "elbo", 1),
)


def coder_for(name: str, particles: int, steps: int, model: str, version: int):  # type: ignore[no-untyped-def]
    config = Config.from_mapping(
        {
            "coder": name,
            "num_particles": particles,
            "checkpoint": str(CHECKPOINTS[model]),
            "arithmetic": "portable",
            "portable_format": version,
            "iterative_post_improvement": steps > 0,
            "iterative_improvement_steps": steps,
            "seed": 7,
        }
    )
    registry = load_registry()
    return build_coder(config, registry, build_components(config, registry))


def setting_name(name: str, particles: int, steps: int, model: str, version: int) -> str:
    return f"{name}-{particles}-{steps}-{model}-format{version}"


def main(argv: list[str]) -> None:
    mode, folder = argv[0], Path(argv[1])
    x = np.load(folder / "images.npy")
    layout = ChainLayout(x.shape[0], *LAYOUT)
    for setting in SETTINGS:
        coder = coder_for(*setting)
        stem = setting_name(*setting)
        if mode == "encode":
            message = Message(LAYOUT, seed=7)
            encode_dataset(coder, x, layout, message)
            (folder / f"{stem}.bin").write_bytes(message.to_frame_bytes())
            continue
        data = (folder / f"{stem}.bin").read_bytes()
        message = Message.from_frame_bytes(data, LAYOUT, 32, 32, seed=7)
        decoded = decode_dataset(coder, message, layout, x.shape[1], groups=2)  # a chain a thread
        if not message.is_initial_state():
            raise SystemExit(f"{stem}: decoding did not return the message to its initial state")
        np.save(Path(argv[2]) / f"{stem}.npy", decoded)


if __name__ == "__main__":
    main(sys.argv[1:])
