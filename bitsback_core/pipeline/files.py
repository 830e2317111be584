"""``bitsback compress`` / ``decompress``: binary images to a file and back.

The file's header carries the resolved config, so decompression rebuilds the very coder
that encoded it; the model weights are referenced by path and pinned by their SHA-256,
and a different model is refused rather than decoded into garbage.

``compress_to_file`` checks its own output before reporting success (unless asked not
to): the bytes are written to a temporary file beside the output, read back, decoded
exactly as ``decompress`` would decode them (:func:`decode_container`: parse, rebuild the
coder from the header, decode) and compared with the input; only then is the temporary
file renamed into place. A file that does not decode is deleted and reported as a
:class:`VerificationError`.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import attrs
import numpy as np

from bitsback_core.ans.message import EmptyStackError, Message, MessageFormatError
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.compression.container import CompressedFile, ContainerError
from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError, ConfigError
from bitsback_core.pipeline.components import build_coder, build_components, file_sha256
from bitsback_core.pipeline.device import resolve_device
from bitsback_core.pipeline.progress import ProgressFactory, no_progress
from bitsback_core.pipeline.run import choose_layout
from bitsback_core.registry import Registry

__all__ = [
    "CompressResult",
    "VerificationError",
    "as_binary_images",
    "compress_to_file",
    "decode_container",
    "decompress_file",
]


class VerificationError(BitsbackError, RuntimeError):
    """A freshly compressed file does not decode to its input (the file was not kept)."""


@attrs.frozen
class CompressResult:
    path: str
    num_images: int
    obs_dim: int
    file_bytes: int
    net_bits: float
    total_bits: int
    encode_s: float
    #: Seconds spent checking that the written bytes decode to the input; None: not checked.
    verify_s: float | None = None

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
    verify: bool = True,
) -> CompressResult:
    """Encode ``images`` with the configured coder and write the compressed file.

    With ``verify`` (the default) the written bytes are decoded as ``decompress`` would
    decode them and compared with ``images`` before the file is moved into place; a
    mismatch or a decoding error raises :class:`VerificationError` and leaves no output
    (an existing file is kept). The output is always written atomically.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists (use --force to overwrite)")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"directory {output.parent} does not exist")
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
    verify_s: float | None = None
    # A new hidden file beside the output (same file system, so the final rename is atomic;
    # opened with "x", so it gets the usual permissions and never clobbers anything).
    tmp = output.parent / f".{output.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        if verify:
            started = time.perf_counter()
            shape = np.asarray(images).shape
            _verify_written(tmp, output, registry, shape, x, config.gpu, progress)
            verify_s = time.perf_counter() - started
        _move_into_place(tmp, output, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return CompressResult(
        path=str(output),
        num_images=int(x.shape[0]),
        obs_dim=int(x.shape[1]),
        file_bytes=len(data),
        net_bits=message.net_bits,
        total_bits=message.total_bits,
        encode_s=encode_s,
        verify_s=verify_s,
    )


def _verify_written(
    tmp: Path,
    output: Path,
    registry: Registry,
    shape: tuple[int, ...],
    expected: np.ndarray,
    gpu: int,
    progress: ProgressFactory,
) -> None:
    """Decode the bytes in ``tmp`` like ``decompress`` would; raise unless they give ``expected``.

    ``shape`` is the input array's shape, ``expected`` its ``(n, obs_dim)`` uint8 pixels.
    Errors name ``output`` (the file the user asked for), not the temporary file.
    """
    try:
        container = CompressedFile.from_bytes(tmp.read_bytes(), name=str(output))
        decoded, _ = decode_container(
            container,
            registry,
            gpu=gpu,
            progress=lambda _, total: progress("verify", total),
            name=str(output),
        )
    except Exception as exc:  # any decoder failure means the file is unusable
        detail = " ".join(str(exc).split()) or "no message"
        raise VerificationError(
            f"verification failed: {output} does not decode ({type(exc).__name__}: {detail}); "
            f"{output} was not written"
        ) from exc
    if decoded.shape != shape or decoded.dtype != np.uint8:
        raise VerificationError(
            f"verification failed: decoded {decoded.dtype} array of shape {decoded.shape}, "
            f"expected uint8 of shape {shape}; {output} was not written"
        )
    rows = np.flatnonzero(np.any(decoded.reshape(expected.shape) != expected, axis=1))
    if rows.size:
        raise VerificationError(
            f"verification failed: decoded images differ from the input at image {int(rows[0])} "
            f"({rows.size} of {expected.shape[0]} differ); {output} was not written"
        )


def _move_into_place(tmp: Path, output: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``output`` atomically; without ``overwrite`` never replace a file."""
    if overwrite:
        os.replace(tmp, output)
        return
    try:
        os.link(tmp, output)  # atomic, and fails if output appeared meanwhile
    except FileExistsError:
        raise FileExistsError(f"{output} already exists (use --force to overwrite)") from None
    except OSError:  # a file system without hard links
        if output.exists():
            raise FileExistsError(f"{output} already exists (use --force to overwrite)") from None
        os.replace(tmp, output)


def decompress_file(
    path: Path,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
) -> tuple[np.ndarray, dict]:
    """Decode a compressed file; returns the images (original shape) and the header."""
    container = CompressedFile.read(Path(path))
    return decode_container(container, registry, checkpoint, gpu, progress, name=str(path))


def decode_container(
    container: CompressedFile,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
    name: str = "input",
) -> tuple[np.ndarray, dict]:
    """Decode a parsed file held in memory; ``name`` labels it in error messages.

    Rebuilds the coder from the header alone (plus ``checkpoint``/``gpu`` overrides),
    so decoding depends on nothing of the process that encoded it.
    """
    header = container.header
    try:
        config = Config.from_mapping(header["config"], source=name)
        num, obs_dim = int(header["num_images"]), int(header["obs_dim"])
        image_shape = tuple(int(s) for s in header["image_shape"])
        expected_sha = str(header["model_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ContainerError(f"{name} has an incomplete header: {exc}") from None
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
            f"model {parts.source.checkpoint} (sha256 {actual_sha[:12]}...) is not the one {name} was "
            f"compressed with (sha256 {expected_sha[:12]}...): pass the right --checkpoint"
        )
    coder = build_coder(config, registry, parts)
    layout = ChainLayout(num, config.chains or 1, config.lanes or 1)
    try:
        message = Message.from_bytes(container.message, strict=True)
    except MessageFormatError as exc:
        raise ContainerError(f"{name}: {exc}") from None
    if message.shape != (layout.chains, layout.lanes):
        raise ContainerError(f"{name}: message shape {message.shape} disagrees with its header")
    try:
        x = decode_dataset(coder, message, layout, obs_dim, progress("decode", num))
    except EmptyStackError as exc:
        raise ContainerError(f"{name}: {exc}") from None
    except (ValueError, AssertionError) as exc:
        # Bytes that pass the checksum but hold something else make the decoder push
        # impossible intervals or read weights outside the model's support.
        raise ContainerError(f"{name}: the data does not decode with this model and settings ({exc})") from None
    if message.net_bits != 0:
        raise ContainerError(f"{name}: decoding did not return the message to its initial state (corrupt data)")
    return x.reshape((num,) + image_shape), header
