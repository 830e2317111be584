"""Compose a model, a proposal and a coder from Python and code a few images.

    python examples/library_api.py --num-images 8

The coder is defined right here: ``TracingISCoder`` is BB-IS (``ISBitsBackCoder``) that
also records what each image cost, read off the message around each step. Handing the
class to :meth:`CodingSession.open` registers it (under its ``PLUGIN_NAME``) in the
session's registry, so the bytes name it and the session's decoder rebuilds it. It runs on
the project's own checkpoints and the dataset plugin's images (the shared EMNIST files if
present, else the sample packaged with the plugin), so it needs nothing under ../shared.
See docs/library.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.compression import encode_dataset
from bitsback_core.config import Config
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import load_registry
from bitsback_core.session import CodingSession
from bitsback_mcbits.coders import ISBitsBackCoder


class TracingISCoder(ISBitsBackCoder):
    """BB-IS that keeps each step's net bits: the code is unchanged, bit for bit."""

    PLUGIN_NAME = "TracingISCoder"
    ALIASES = ()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.step_bits: list[float] = []

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        before = message.net_bits
        super().encode(message, x, step, active)
        self.step_bits.append(message.net_bits - before)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=8)
    parser.add_argument(
        "--model", default="bin_emnist_split=mnist_iwae5", help="model name or path"
    )
    parser.add_argument("--num-particles", type=int, default=5)
    parser.add_argument("--datadir", default=None, help="EMNIST folder (default: the plugin's own)")
    args = parser.parse_args()

    registry = load_registry()
    print(
        "proposals:",
        ", ".join(registry.names("proposal")),
        "| coders:",
        ", ".join(registry.names("coder")),
    )
    images = load_images(
        Config.from_mapping({"num_compress": args.num_images, "datadir": args.datadir}), registry
    )
    images = images.reshape(-1, 28, 28)

    session = CodingSession.open(
        model=args.model,
        coder=TracingISCoder,  # a class: registered in `registry`, built over the session's model
        proposal="amortized",  # or "iterative" (with iterative_improvement_steps=...), or a class
        registry=registry,
        num_particles=args.num_particles,
        chains=1,  # one chain: one image per step, so each step's bits are one image's
    )
    print(session)

    # fallback="never": every frame a bits-back message, so its bits are the coder's (the
    # default "auto", as `bitsback compress`, stores a frame classically when that is shorter).
    encoded = session.encode(images, ideal=True, fallback="never")
    decoded = session.decode(encoded.data)
    assert np.array_equal(decoded, images) and decoded.shape == images.shape, "round trip failed"
    print(f"{encoded.num_images} images -> {len(encoded.data)} bytes, decoded exactly")
    print(
        f"bits/dim: ideal {encoded.ideal_bpd:.4f}  net {encoded.net_bpd:.4f}  "
        f"total {encoded.total_bpd:.4f}  file {encoded.file_bpd:.4f}"
    )
    # One level down, as `bitsback run` does: the session's coder instance drives the
    # dataset encoder over a bare message (the same message a one-frame file holds).
    coder = session.coder
    assert isinstance(coder, TracingISCoder)
    coder.step_bits.clear()  # session.encode coded with this same instance
    message = Message((1, 1), session.config.lprec, session.config.bprec, seed=session.config.seed)
    encode_dataset(coder, images.reshape(len(images), -1), session.layout(len(images)), message)
    assert message.net_bits == encoded.net_bits, "the file's message and run's message differ"
    print("net bits per image:", " ".join(f"{b:.1f}" for b in coder.step_bits))

    stock = CodingSession.open(model=args.model, coder="ISBitsBackCoder", registry=registry,
                               num_particles=args.num_particles, chains=1)  # fmt: skip
    print(
        f"stock ISBitsBackCoder net bits {stock.encode(images, fallback='never').net_bits:.1f} "
        f"(traced {encoded.net_bits:.1f})"
    )

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "images.bbz"
        written = session.compress_file(images, path)  # atomic, and decoded before it is kept
        print(f"file {path.name}: {written.file_bytes} bytes, {written.file_bpd:.4f} bits/dim")
        assert np.array_equal(session.decompress_file(path), images)


if __name__ == "__main__":
    main()
