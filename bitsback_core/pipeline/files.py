"""``bitsback compress`` / ``decompress``: binary images to a file and back.

The file's header carries the resolved config, so decompression rebuilds the very coder
that encoded it; the model weights are referenced by path and pinned by their SHA-256,
and a different model is refused rather than decoded into garbage.
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs
import numpy as np

from bitsback_core.ans.message import EmptyStackError, Message, MessageFormatError
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.compression.container import CompressedFile, ContainerError, write_new_file
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline.components import build_coder, build_components, file_sha256
from bitsback_core.pipeline.device import resolve_device
from bitsback_core.pipeline.progress import ProgressFactory, no_progress
from bitsback_core.pipeline.run import choose_layout
from bitsback_core.registry import Registry

__all__ = ["CompressResult", "as_binary_images", "compress_to_file", "decompress_file"]


@attrs.frozen
class CompressResult:
    path: str
    num_images: int
    obs_dim: int
    file_bytes: int
    net_bits: float
    total_bits: int
    encode_s: float

    @property
    def file_bpd(self) -> float:
        return 8 * self.file_bytes / (self.num_images * self.obs_dim)


def as_binary_images(x: np.ndarray, obs_dim: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Validate user images (0/1 values, ``(n, obs_dim)`` or ``(n, h, w)``); flatten them."""
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0 or int(np.prod(x.shape[1:])) != obs_dim:
        raise ConfigError(f"expected a non-empty array of images with {obs_dim} pixels each, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer) and not np.issubdtype(x.dtype, np.bool_):
        raise ConfigError(f"images must be integers 0/1, got dtype {x.dtype}")
    if np.any((x != 0) & (x != 1)):
        raise ConfigError("images must be binary (0/1): binarize them first")
    return x.reshape(x.shape[0], obs_dim).astype(np.uint8), tuple(x.shape[1:])


def compress_to_file(
    config: Config,
    registry: Registry,
    images: np.ndarray,
    output: Path,
    overwrite: bool = False,
    progress: ProgressFactory = no_progress,
) -> CompressResult:
    """Encode ``images`` with the configured coder and write the compressed file."""
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists (use --force to overwrite)")
    device, _ = resolve_device(config.gpu)
    parts = build_components(config, registry, device)
    x, image_shape = as_binary_images(images, parts.model.obs_dim)
    coder = build_coder(config, registry, parts)
    layout = choose_layout(config, x.shape[0])
    message = Message((layout.chains, layout.lanes), config.lprec, config.bprec, seed=config.seed)
    started = time.perf_counter()
    encode_dataset(coder, x, layout, message, progress("encode", x.shape[0]))
    encode_s = time.perf_counter() - started
    resolved = attrs.evolve(
        config,
        checkpoint=str(parts.source.checkpoint.resolve()),
        train_config=None if parts.source.train_config_path is None else str(parts.source.train_config_path.resolve()),
        chains=layout.chains,
        lanes=layout.lanes,
        # The architecture, so a decoder given only --checkpoint can rebuild the model.
        model=parts.source.train_config.model,
        latent_dim=parts.source.train_config.latent_dim,
    )
    header = {
        "config": resolved.as_dict(),
        "model_sha256": file_sha256(parts.source.checkpoint),
        "num_images": int(x.shape[0]),
        "obs_dim": int(x.shape[1]),
        "image_shape": list(image_shape),
    }
    data = CompressedFile(header=header, message=message.to_bytes()).to_bytes()
    write_new_file(output, data, overwrite=overwrite)
    return CompressResult(
        path=str(output),
        num_images=int(x.shape[0]),
        obs_dim=int(x.shape[1]),
        file_bytes=len(data),
        net_bits=message.net_bits,
        total_bits=message.total_bits,
        encode_s=encode_s,
    )


def decompress_file(
    path: Path,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
) -> tuple[np.ndarray, dict]:
    """Decode a compressed file; returns the images (original shape) and the header."""
    container = CompressedFile.read(Path(path))
    header = container.header
    try:
        config = Config.from_mapping(header["config"], source=str(path))
        num, obs_dim = int(header["num_images"]), int(header["obs_dim"])
        image_shape = tuple(int(s) for s in header["image_shape"])
        expected_sha = str(header["model_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ContainerError(f"{path} has an incomplete header: {exc}") from None
    overrides: dict[str, object] = {"gpu": gpu}
    if checkpoint:
        overrides["checkpoint"] = checkpoint
        if config.train_config and not Path(config.train_config).is_file():
            # The run folder moved: use the train_config.yml beside the given checkpoint,
            # else the architecture recorded in the header.
            overrides["train_config"] = None
    config = attrs.evolve(config, **overrides)
    device, _ = resolve_device(config.gpu)
    parts = build_components(config, registry, device)
    actual_sha = file_sha256(parts.source.checkpoint)
    if actual_sha != expected_sha:
        raise ConfigError(
            f"model {parts.source.checkpoint} (sha256 {actual_sha[:12]}...) is not the one {path} was "
            f"compressed with (sha256 {expected_sha[:12]}...): pass the right --checkpoint"
        )
    coder = build_coder(config, registry, parts)
    layout = ChainLayout(num, config.chains or 1, config.lanes or 1)
    try:
        message = Message.from_bytes(container.message, strict=True)
    except MessageFormatError as exc:
        raise ContainerError(f"{path}: {exc}") from None
    if message.shape != (layout.chains, layout.lanes):
        raise ContainerError(f"{path}: message shape {message.shape} disagrees with its header")
    try:
        x = decode_dataset(coder, message, layout, obs_dim, progress("decode", num))
    except EmptyStackError as exc:
        raise ContainerError(f"{path}: {exc}") from None
    if message.net_bits != 0:
        raise ContainerError(f"{path}: decoding did not return the message to its initial state (corrupt data)")
    return x.reshape((num,) + image_shape), header
