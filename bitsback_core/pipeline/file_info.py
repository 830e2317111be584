"""What a ``.bbz`` file holds, read from its header and framing alone.

:func:`describe_file` parses and checks the file (header CRC, every frame's length and
CRC) like ``decompress`` does first, but never decodes a frame and never loads a model,
so it takes milliseconds even for big files. ``bitsback info`` prints its result.
"""

from __future__ import annotations

import math
from pathlib import Path

import attrs

from bitsback_core.compression.container import FORMAT_VERSION, FRAME_CODECS, CompressedFile

__all__ = ["FileInfo", "describe_file"]


@attrs.frozen(kw_only=True)
class FileInfo:
    """A ``.bbz`` file's header fields, frame sizes and whole-file rate."""

    path: str
    format_version: int
    coder: str
    num_particles: int
    arithmetic: str
    #: The portable model's format (1 or 2); None for float files.
    portable_format: int | None
    #: lprec, bprec, log_num_bucket, prior_mprec, prop_mprec, cond_mprec.
    precisions: dict[str, int]
    chains: int
    lanes: int
    seed: int
    proposal: str
    discretizer: str
    #: ``{"steps": ..., "lr": ...}`` for iterative inference, else None.
    iterative: dict[str, float] | None
    model: str
    latent_dim: int
    model_name: str
    #: The model identity the file stores, hex: the first 128 bits of its SHA-256.
    identity: str
    num_images: int
    image_shape: tuple[int, ...]
    dtype: str
    num_frames: int
    frame_images: int
    #: Payload bytes of each frame (without its 9 bytes of length, codec and CRC).
    frame_bytes: tuple[int, ...]
    #: Each frame's codec byte: 0 bits-back message, 1 bz2, 2 context model (``FRAME_CODECS``).
    frame_codecs: tuple[int, ...]
    #: Everything that is not payload: prefix, header, its CRC and 9 bytes per frame.
    header_bytes: int
    file_bytes: int
    #: 8 * file_bytes / (num_images * pixels per image).
    file_bpd: float

    @property
    def codec_counts(self) -> dict[str, int]:
        """How many frames each codec coded, by codec name, in codec order."""
        return {
            name: self.frame_codecs.count(code)
            for code, name in FRAME_CODECS.items()
            if code in self.frame_codecs
        }

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)


_PRECISIONS = ("lprec", "bprec", "log_num_bucket", "prior_mprec", "prop_mprec", "cond_mprec")


def describe_file(path: Path | str) -> FileInfo:
    """Parse ``path`` (a ContainerError if damaged) and describe it without decoding."""
    path = Path(path)
    container = CompressedFile.read(path)
    h = container.header
    file_bytes = path.stat().st_size
    iterative = None if h.iterative is None else {"steps": h.iterative[0], "lr": h.iterative[1]}
    return FileInfo(
        path=str(path),
        format_version=FORMAT_VERSION,
        coder=h.coder,
        num_particles=h.num_particles,
        arithmetic=h.arithmetic,
        portable_format=h.portable_format if h.portable else None,
        precisions={name: getattr(h, name) for name in _PRECISIONS},
        chains=h.chains,
        lanes=h.lanes,
        seed=h.seed,
        proposal=h.proposal,
        discretizer=h.discretizer,
        iterative=iterative,
        model=h.model,
        latent_dim=h.latent_dim,
        model_name=h.model_name,
        identity=h.identity_hex,
        num_images=h.num_images,
        image_shape=tuple(h.image_shape),
        dtype=h.dtype,
        num_frames=len(container.frames),
        frame_images=h.frame_images,
        frame_bytes=tuple(len(frame) for frame in container.frames),
        frame_codecs=container.codecs,
        header_bytes=container.overhead_bytes,
        file_bytes=file_bytes,
        file_bpd=8 * file_bytes / (h.num_images * math.prod(h.image_shape)),
    )
