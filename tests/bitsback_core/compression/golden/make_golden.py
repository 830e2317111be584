"""Write the golden files: small ``.bbz`` files per coder that every later release must read.

    python tests/bitsback_core/compression/golden/make_golden.py [CASE ...]

Each file is coded with the project's own checkpoints (``checkpoints/``, no ``../shared``)
in portable arithmetic, so its bytes are the same on every machine. ``golden.json`` records
how each was made (the config values, frames) and the sha256 of the images it decodes to;
``test_golden_files.py`` decodes every file and re-encodes the images to the same bytes.
Run this only with a format version bump: the point of the files is that they never change.
(Format 2 was re-pinned once before its release, when its header became compact and
frames gained a codec byte; the messages inside the files did not change.)

Every case but ``mixed-codecs`` is written with ``fallback="never"``: their frames of a few
images would otherwise be stored with a classical codec, and they pin the bits-back
messages. ``mixed-codecs`` (``fallback="auto"``, added with the per-frame classical
fallback) pins a file whose frames alternate between bits-back messages and the context
coder (codec 2), on real digits from the packaged EMNIST sample. It was written before
codec 3 existed, so it is re-encoded with the classical codecs 1 and 2 only
(``fallback_codecs``; with codec 3 its two classical frames would be shorter).
``mixed-codecs-3`` (added with codec 3) is the same images with every classical codec:
its classical frames are codec 3 (and the IWAE(5) model, so that its header differs).

Portable model format 2 (float32-exact decoder products) came later: every case before it
records ``portable_format: 1`` (what wrote it; the key did not exist yet), and the
``*-format2`` cases pin files of the new default format.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bitsback_core.config import Config
from bitsback_core.pipeline.files import compress_to_file
from bitsback_core.registry import load_registry
from bitsback_emnist.sample import load_sample

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
ELBO = ROOT / "checkpoints" / "bin_emnist_split=mnist_elbo" / "model.pt"
IWAE5 = ROOT / "checkpoints" / "bin_emnist_split=mnist_iwae5" / "model.pt"

#: name -> (config values, images per frame, image layout). Every coder, iterative
#: inference, several frames, chains x lanes, and the input's shape and dtype coming back.
CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "elbo": (
        {"coder": "BitsBackCoder", "checkpoint": ELBO, "portable_format": 1},
        10_000,
        "flat-uint8",
    ),
    "is5": (
        {"coder": "ISBitsBackCoder", "num_particles": 5, "checkpoint": IWAE5, "portable_format": 1},
        10_000,
        "flat-uint8",
    ),
    "cis5": (
        {
            "coder": "CISBitsBackCoder",
            "num_particles": 5,
            "checkpoint": IWAE5,
            "portable_format": 1,
        },
        10_000,
        "flat-uint8",
    ),
    "stochastic": (
        {"coder": "StochasticCoder", "checkpoint": ELBO, "portable_format": 1},
        10_000,
        "flat-uint8",
    ),
    "elbo-iterative": (
        {
            "coder": "BitsBackCoder",
            "checkpoint": ELBO,
            "portable_format": 1,
            "iterative_post_improvement": True,
            "iterative_improvement_steps": 3,
        },
        10_000,
        "flat-uint8",
    ),  # fmt: skip
    "is5-iterative": (
        {
            "coder": "ISBitsBackCoder",
            "num_particles": 5,
            "checkpoint": IWAE5,
            "portable_format": 1,
            "iterative_post_improvement": True,
            "iterative_improvement_steps": 2,
        },
        10_000,
        "flat-uint8",
    ),  # fmt: skip
    "cis5-frames-2x2": (
        {
            "coder": "CISBitsBackCoder",
            "num_particles": 5,
            "checkpoint": IWAE5,
            "portable_format": 1,
            "chains": 2,
            "lanes": 2,
        },
        4,
        "square-bool",
    ),  # fmt: skip
    "mixed-codecs": (
        {"coder": "BitsBackCoder", "checkpoint": ELBO, "portable_format": 1},
        12,
        "sample-mixed",
    ),
    "mixed-codecs-3": (
        {"coder": "BitsBackCoder", "checkpoint": IWAE5, "portable_format": 1},
        12,
        "sample-mixed",
    ),
    # Portable model format 2 (float32-exact decoder products), the default since it exists.
    "elbo-format2": (
        {"coder": "BitsBackCoder", "checkpoint": ELBO, "portable_format": 2},
        10_000,
        "flat-uint8",
    ),
    "is5-format2": (
        {"coder": "ISBitsBackCoder", "num_particles": 5, "checkpoint": IWAE5, "portable_format": 2},
        10_000,
        "flat-uint8",
    ),
    "cis5-format2": (
        {
            "coder": "CISBitsBackCoder",
            "num_particles": 5,
            "checkpoint": IWAE5,
            "portable_format": 2,
        },
        10_000,
        "flat-uint8",
    ),
    "is5-iterative-format2": (
        {
            "coder": "ISBitsBackCoder",
            "num_particles": 5,
            "checkpoint": IWAE5,
            "portable_format": 2,
            "iterative_post_improvement": True,
            "iterative_improvement_steps": 2,
        },
        10_000,
        "flat-uint8",
    ),  # fmt: skip
    "mixed-codecs-format2": (
        {"coder": "BitsBackCoder", "checkpoint": IWAE5, "portable_format": 2},
        12,
        "sample-mixed",
    ),
}

#: The ``fallback`` each case is written with (the others: ``"never"``).
FALLBACK: dict[str, str] = {
    "mixed-codecs": "auto",
    "mixed-codecs-3": "auto",
    "mixed-codecs-format2": "auto",
}
#: The classical codecs a case's frames may use (the others: all): those of the release
#: that wrote it, so that its images still encode to its bytes.
FALLBACK_CODECS: dict[str, list[int]] = {"mixed-codecs": [1, 2]}
#: The frame codecs a case must come out with (checked when it is written).
EXPECTED_CODECS: dict[str, tuple[int, ...]] = {
    "mixed-codecs": (0, 2, 0, 2),
    "mixed-codecs-3": (0, 3, 0, 3),
    "mixed-codecs-format2": (0, 3, 0, 3),
}


def sample_mixed_images() -> np.ndarray:
    """37 packaged EMNIST test digits, frames of 12: dynamically binarized (seeded) digits
    where the model wins, thresholded ones (frame 1) and a lone digit (frame 3) where the
    context coder does."""
    grey, _ = load_sample()
    grey = grey[:37]
    dynamic = np.random.default_rng(20261130).random(grey.shape) < grey / 255
    images = dynamic.copy()
    images[12:24] = grey[12:24] >= 128
    return images.astype(np.uint8)


def golden_images(layout: str) -> np.ndarray:
    """Ten digit-like binary images (a seeded blob of ink each) in the case's shape and dtype
    (``sample-mixed``: :func:`sample_mixed_images`)."""
    if layout == "sample-mixed":
        return sample_mixed_images()
    rng = np.random.default_rng(20261130)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, size=(10, 2))
    widths = rng.uniform(15, 45, size=(10, 1, 1))
    ink = np.exp(-(((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / widths))
    images = rng.random((10, 28, 28)) < ink
    if layout == "square-bool":
        return images
    return images.reshape(10, 784).astype(np.uint8)


def images_sha256(images: np.ndarray) -> str:
    """Digest of the dtype, the shape and the pixels."""
    head = f"{images.dtype.str}{images.shape}".encode()
    return hashlib.sha256(head + np.ascontiguousarray(images).tobytes()).hexdigest()


def case_config(values: dict[str, Any]) -> Config:
    return Config.from_mapping(
        {**values, "checkpoint": str(values["checkpoint"]), "arithmetic": "portable", "seed": 42}
    )


def write_case(name: str, registry: Any) -> dict[str, Any]:
    """Write case ``name``'s file; its ``golden.json`` record."""
    values, frame_images, layout = CASES[name]
    images = golden_images(layout)
    path = HERE / f"{name}.bbz"
    fallback = FALLBACK.get(name, "never")
    codecs = FALLBACK_CODECS.get(name)
    result = compress_to_file(
        case_config(values), registry, images, path,
        overwrite=True, frame_images=frame_images, fallback=fallback, fallback_codecs=codecs,
    )  # fmt: skip
    expected = EXPECTED_CODECS.get(name, (0,) * result.num_frames)
    if result.frame_codecs != expected:
        raise SystemExit(f"{name}: frame codecs {result.frame_codecs}, expected {expected}")
    print(f"{name}: {path.stat().st_size} bytes")
    return {
        "values": {
            k: (Path(v).relative_to(ROOT).as_posix() if k == "checkpoint" else v)
            for k, v in values.items()
        },
        "frame_images": frame_images,
        "fallback": fallback,
        **({} if codecs is None else {"fallback_codecs": codecs}),
        "frame_codecs": list(result.frame_codecs),
        "layout": layout,
        "images_sha256": images_sha256(images),
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "file_bytes": path.stat().st_size,
    }


def main(names: list[str]) -> None:
    """Write the named cases (all with no names), keeping the other cases' records: a new
    case is added with its name alone, and the existing files are not written again."""
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; known: {sorted(CASES)}")
    registry = load_registry()
    recorded = HERE / "golden.json"
    record: dict[str, Any] = json.loads(recorded.read_text()) if names else {}
    for name in names or list(CASES):
        record[name] = write_case(name, registry)
    recorded.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
