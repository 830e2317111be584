"""``bitsback compress`` / ``decompress``: binary images to a ``.bbz`` file and back.

The file (format 2, ``docs/format.md``) records the coder, its precisions, the chain
layout, the seed, the arithmetic and the model's *identity* (never a path): decompression
rebuilds the very coder that encoded it, finds the model among the project's own
checkpoints by that identity (or takes ``--checkpoint`` and checks it), and refuses a
different model rather than decoding garbage. Images are coded in frames of
``frame_images``, each an independent message, so frames decode independently.

``compress_to_file`` checks its own output before reporting success (unless asked not
to): the bytes are written to a temporary file beside the output, read back, decoded
exactly as ``decompress`` would decode them (:func:`decode_container`: parse, rebuild the
coder from the header, decode every frame) and compared with the input; only then is the
temporary file renamed into place. A file that does not decode is deleted and reported
as a :class:`VerificationError`.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from pathlib import Path

import attrs
import numpy as np

from bitsback_core.ans.message import EmptyStackError, Message, MessageFormatError
from bitsback_core.coders.interface import Coder
from bitsback_core.compression import decode_dataset, encode_dataset
from bitsback_core.compression.container import (
    DEFAULT_FRAME_IMAGES,
    MAX_MODEL_NAME,
    CompressedFile,
    ContainerError,
    Header,
    header_problem,
    identity_prefix,
)
from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError, ConfigError, UnknownComponentError
from bitsback_core.models.interface import LatentVariableModel
from bitsback_core.pipeline.components import (
    Components,
    build_coder,
    build_components,
    file_sha256,
    find_model_by_identity,
)
from bitsback_core.pipeline.device import resolve_device
from bitsback_core.pipeline.progress import Advance, ProgressFactory, no_progress
from bitsback_core.pipeline.run import choose_layout
from bitsback_core.registry import Registry

__all__ = [
    "CompressResult",
    "VerificationError",
    "as_binary_images",
    "compress_to_file",
    "decode_container",
    "decompress_file",
    "float_arithmetic_warning",
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
    #: Bytes that are not message bytes: prefix, header, header CRC and 8 per frame.
    header_bytes: int = 0
    num_frames: int = 1
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


def float_arithmetic_warning(name: str) -> str:
    """The one-line warning ``decompress`` prints for a float-arithmetic file."""
    return (
        f"{name} was coded in float arithmetic: it decodes only where float results are identical "
        "to the encoder's machine (same kind of CPU, libraries and settings)"
    )


def _printable(text: str) -> str:
    """``text`` as printable ASCII of at most 255 characters (other characters become '_')."""
    return "".join(c if " " <= c <= "~" else "_" for c in text)[:255]


def _file_header(
    config: Config, registry: Registry, parts: Components, images: np.ndarray, count: int, frame_images: int
) -> Header:
    """The header for ``count`` images ``images``; a value the format cannot hold is a ConfigError.

    The model name is the catalogue's short name of the model's folder (``mnist-elbo``), cut
    to the format's 32 characters: a label for messages and the lookup order, never a path.
    """
    from bitsback_core.models.catalogue import model_name as catalogue_name

    iterative = config.iterative_post_improvement
    layout = choose_layout(config, min(count, max(1, frame_images)))
    source = parts.source
    header = Header(
        portable=config.arithmetic == "portable",
        coder=registry.entry("coder", config.coder).name,
        num_particles=config.num_particles,
        lprec=config.lprec, bprec=config.bprec, log_num_bucket=config.log_num_bucket,
        prior_mprec=config.prior_mprec, prop_mprec=config.prop_mprec, cond_mprec=config.cond_mprec,
        chains=layout.chains, lanes=layout.lanes, seed=config.seed,
        proposal=registry.entry("proposal", "iterative" if iterative else config.proposal).name,
        discretizer=registry.entry("discretizer", config.discretizer).name,
        iterative=(config.iterative_improvement_steps, config.iterative_improvement_lr) if iterative else None,
        model=registry.entry("model", source.train_config.model).name,
        latent_dim=parts.model.latent_dim,
        identity=identity_prefix(_identity_of(parts, config.arithmetic)),
        model_name=_printable(catalogue_name(source.checkpoint.resolve().parent.name))[:MAX_MODEL_NAME],
        dtype=images.dtype.str,
        image_shape=tuple(int(d) for d in images.shape[1:]),
        num_images=count,
        frame_images=frame_images,
    )  # fmt: skip
    problem = header_problem(header)
    if problem:
        raise ConfigError(f"cannot write a bitsback file with these settings: {problem}")
    return header


def _identity_of(parts: Components, arithmetic: str) -> str:
    """What a file records for the loaded model: the portable identity or the file's SHA-256."""
    if arithmetic == "portable":
        identity = parts.model.identity()
        if not identity:
            raise ConfigError(f"model {type(parts.model).__name__} in portable arithmetic has no identity()")
        return identity
    return file_sha256(parts.source.checkpoint)


def _encode_frames(
    coder: Coder, x: np.ndarray, header: Header, advance: Advance
) -> tuple[list[bytes], float, int]:
    """Each frame's message bytes, and the net and total bits of all frames together."""
    frames, net, total = [], 0.0, 0
    for index in range(header.num_frames):
        layout = header.frame_layout(index)
        message = Message(
            (layout.chains, layout.lanes), header.lprec, header.bprec, seed=header.frame_seed(index)
        )
        encode_dataset(coder, x[header.frame_slice(index)], layout, message, advance)
        frames.append(message.to_frame_bytes())
        net += message.net_bits
        total += message.total_bits
    return frames, net, total


def compress_to_file(
    config: Config,
    registry: Registry,
    images: np.ndarray,
    output: Path,
    overwrite: bool = False,
    progress: ProgressFactory = no_progress,
    verify: bool = True,
    frame_images: int = DEFAULT_FRAME_IMAGES,
) -> CompressResult:
    """Encode ``images`` with the configured coder and write the compressed file.

    ``frame_images`` images go into each frame (independent messages). With ``verify``
    (the default) the written bytes are decoded as ``decompress`` would decode them and
    compared with ``images`` before the file is moved into place; a mismatch or a decoding
    error raises :class:`VerificationError` and leaves no output (an existing file is
    kept). The output is always written atomically.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists (use --force to overwrite)")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"directory {output.parent} does not exist")
    device, _ = resolve_device(config.gpu)
    parts = build_components(config, registry, device)
    original = np.asarray(images)
    x, _ = as_binary_images(original, parts.model.obs_dim)
    header = _file_header(config, registry, parts, original, x.shape[0], frame_images)
    coder = build_coder(config, registry, parts)
    started = time.perf_counter()
    frames, net_bits, total_bits = _encode_frames(coder, x, header, progress("encode", x.shape[0]))
    encode_s = time.perf_counter() - started
    container = CompressedFile(header=header, frames=tuple(frames))
    data = container.to_bytes()
    verify_s = _write_checked(data, output, overwrite, verify, registry, original, parts, config.gpu, progress)
    return CompressResult(
        path=str(output),
        num_images=int(x.shape[0]),
        obs_dim=int(x.shape[1]),
        file_bytes=len(data),
        net_bits=net_bits,
        total_bits=total_bits,
        encode_s=encode_s,
        header_bytes=container.overhead_bytes,
        num_frames=len(frames),
        verify_s=verify_s,
    )


def _write_checked(
    data: bytes,
    output: Path,
    overwrite: bool,
    verify: bool,
    registry: Registry,
    original: np.ndarray,
    parts: Components,
    gpu: int,
    progress: ProgressFactory,
) -> float | None:
    """Write ``data`` beside ``output``, verify it if asked, move it into place; verify seconds."""
    verify_s: float | None = None
    # A new hidden file beside the output (same file system, so the final rename is atomic;
    # opened with "x", so it gets the usual permissions and never clobbers anything).
    tmp = output.parent / f".{output.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        if verify:
            started = time.perf_counter()
            _verify_written(tmp, output, registry, original, str(parts.source.checkpoint), gpu, progress)
            verify_s = time.perf_counter() - started
        _move_into_place(tmp, output, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return verify_s


def _verify_written(
    tmp: Path,
    output: Path,
    registry: Registry,
    original: np.ndarray,
    checkpoint: str,
    gpu: int,
    progress: ProgressFactory,
) -> None:
    """Decode the bytes in ``tmp`` like ``decompress`` would; raise unless they give ``original``.

    ``checkpoint`` is the encoder's model (a decoder elsewhere finds it by identity or
    ``--checkpoint``; its identity is checked either way). The decoded array must equal
    ``original`` in values, shape and dtype. Errors name ``output``, not the temporary file.
    """
    try:
        container = CompressedFile.from_bytes(tmp.read_bytes(), name=str(output))
        decoded, _ = decode_container(
            container,
            registry,
            checkpoint=checkpoint,
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
    if decoded.shape != original.shape or decoded.dtype != original.dtype:
        raise VerificationError(
            f"verification failed: decoded {decoded.dtype} array of shape {decoded.shape}, "
            f"expected {original.dtype} of shape {original.shape}; {output} was not written"
        )
    flat = original.reshape(original.shape[0], -1)
    rows = np.flatnonzero(np.any(decoded.reshape(flat.shape) != flat, axis=1))
    if rows.size:
        raise VerificationError(
            f"verification failed: decoded images differ from the input at image {int(rows[0])} "
            f"({rows.size} of {flat.shape[0]} differ); {output} was not written"
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
) -> tuple[np.ndarray, Header]:
    """Decode a compressed file; returns the images (original shape and dtype) and the header."""
    container = CompressedFile.read(Path(path))
    return decode_container(container, registry, checkpoint, gpu, progress, name=str(path))


# --- decoding ------------------------------------------------------------------------------


def _decoder_config(header: Header, gpu: int) -> Config:
    """The config that rebuilds the encoder's coder (model source filled in later)."""
    values: dict[str, object] = {
        "coder": header.coder, "num_particles": header.num_particles,
        "lprec": header.lprec, "bprec": header.bprec, "log_num_bucket": header.log_num_bucket,
        "prior_mprec": header.prior_mprec, "prop_mprec": header.prop_mprec,
        "cond_mprec": header.cond_mprec, "chains": header.chains, "lanes": header.lanes,
        "seed": header.seed, "proposal": header.proposal, "discretizer": header.discretizer,
        "iterative_post_improvement": header.iterative is not None,
        "model": header.model, "latent_dim": header.latent_dim,
        "arithmetic": header.arithmetic, "gpu": gpu,
    }  # fmt: skip
    if header.iterative is not None:
        values["iterative_improvement_steps"], values["iterative_improvement_lr"] = header.iterative
    return Config.from_mapping(values)


def _check_installed(header: Header, registry: Registry, name: str) -> None:
    """Refuse, naming it, a component or arithmetic the file needs and this installation lacks."""
    for kind, component in (
        ("coder", header.coder),
        ("model", header.model),
        ("proposal", header.proposal),
        ("discretizer", header.discretizer),
    ):
        try:
            registry.entry(kind, component)
        except UnknownComponentError as exc:
            raise ContainerError(
                f"{name} needs {kind} {component!r}, which is not installed here ({exc})"
            ) from None
    model_cls = registry.get("model", header.model)
    if header.portable and model_cls.portable is LatentVariableModel.portable:
        raise ContainerError(
            f"{name} was coded in portable arithmetic, which model plugin {header.model!r} does not offer here"
        )


def _locate_model(header: Header, config: Config, registry: Registry, checkpoint: str | None, name: str) -> Config:
    """``config`` with the model to decode with: ``checkpoint``, or the project's model by identity."""
    if checkpoint:
        return attrs.evolve(config, checkpoint=checkpoint, train_config=None)
    source = find_model_by_identity(
        header.identity_hex, header.arithmetic, registry, prefer=header.model_name or None
    )
    if source is None:
        label = header.model_name or "unnamed"
        raise ConfigError(
            f"{name} was compressed with model {label!r} (identity {header.identity_hex[:12]}...), "
            "which is not among this installation's models: pass --checkpoint model.pt"
        )
    return attrs.evolve(config, checkpoint=str(source.checkpoint), train_config=str(source.train_config_path))


def _check_model(header: Header, parts: Components, registry: Registry, name: str) -> None:
    """The loaded model must be the encoder's: same plugin, latent size, pixels and identity."""
    source = parts.source
    if registry.entry("model", source.train_config.model).name != header.model or (
        parts.model.latent_dim != header.latent_dim
    ):
        raise ConfigError(
            f"model {source.checkpoint} is a {source.train_config.model} with {parts.model.latent_dim} latent "
            f"dimensions; {name} needs a {header.model} with {header.latent_dim}: pass the right --checkpoint"
        )
    if math.prod(header.image_shape) != parts.model.obs_dim:
        raise ContainerError(
            f"{name} holds images of shape {header.image_shape}; its model codes {parts.model.obs_dim} pixels"
        )
    actual = _identity_of(parts, header.arithmetic)
    if not header.identity_matches(actual):
        raise ConfigError(
            f"model {source.checkpoint} (sha256 {actual[:12]}...) is not the one {name} was "
            f"compressed with (sha256 {header.identity_hex[:12]}...): pass the right --checkpoint"
        )


def _decode_frame(
    coder: Coder, header: Header, index: int, frame: bytes, obs_dim: int, advance: Advance, name: str
) -> np.ndarray:
    """Decode frame ``index`` on its own; any inconsistency is a ContainerError naming the frame."""
    where = f"{name}, frame {index}"
    layout = header.frame_layout(index)
    shape = (layout.chains, layout.lanes)
    try:
        message = Message.from_frame_bytes(frame, shape, header.lprec, header.bprec, header.frame_seed(index))
        x = decode_dataset(coder, message, layout, obs_dim, advance)
    except (MessageFormatError, EmptyStackError) as exc:
        raise ContainerError(f"{where}: {exc}") from None
    except (ValueError, AssertionError) as exc:
        # Bytes that pass the checksum but hold something else make the decoder push
        # impossible intervals or read weights outside the model's support.
        raise ContainerError(f"{where}: the data does not decode with this model and settings ({exc})") from None
    if not message.is_initial_state():
        raise ContainerError(f"{where}: decoding did not return the message to its initial state (corrupt data)")
    return x


def decode_container(
    container: CompressedFile,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
    name: str = "input",
) -> tuple[np.ndarray, Header]:
    """Decode a parsed file held in memory; ``name`` labels it in error messages.

    Rebuilds the coder from the header alone (plus the ``checkpoint``/``gpu`` overrides),
    so decoding depends on nothing of the process that encoded it. Returns the images in
    the input's shape and dtype, and the header.
    """
    header = container.header
    _check_installed(header, registry, name)
    config = _locate_model(header, _decoder_config(header, gpu), registry, checkpoint, name)
    device, _ = resolve_device(config.gpu)
    parts = build_components(config, registry, device)
    _check_model(header, parts, registry, name)
    coder = build_coder(config, registry, parts)
    advance = progress("decode", header.num_images)
    decoded = [
        _decode_frame(coder, header, index, frame, parts.model.obs_dim, advance, name)
        for index, frame in enumerate(container.frames)
    ]
    images = np.concatenate(decoded).reshape((header.num_images, *header.image_shape))
    return images.astype(np.dtype(header.dtype)), header
