"""``bitsback compress`` / ``decompress``: binary images to a ``.bbz`` file and back.

The file (format 2, ``docs/format.md``) records the coder, its precisions, the chain
layout, the seed, the arithmetic and the model's *identity* (never a path): decompression
rebuilds the very coder that encoded it, finds the model among the project's own
checkpoints by that identity (or takes ``--checkpoint`` and checks it), and refuses a
different model rather than decoding garbage. Images are coded in frames of
``frame_images``, each coded on its own, so frames decode independently.

Each frame is stored with whichever is shorter (``fallback="auto"``, the default): its
bits-back message (codec 0) or the best classical code of its images
(:func:`~bitsback_core.compression.fallback.best_fallback`: bz2 or one of the two
context-model bilevel coders, codecs 1, 2 and 3). A model that fits the images badly (thresholded scans,
unfamiliar shapes) or a frame so short that the message's initial bits dominate then
costs at most the frame's 9 bytes of framing more than a classical codec. The decoder
dispatches on each frame's codec byte; a classical frame needs no model, so a model is
loaded only when a selected frame is a bits-back message.

Setup goes through :class:`~bitsback_core.session.CodingSession`: the encoder's from its
config (:meth:`~bitsback_core.session.CodingSession.from_config`), the decoder's from the
config the header records (:meth:`~bitsback_core.session.CodingSession.for_decoding`,
which checks the model before the coder is built).

``compress_to_file`` checks its own output before reporting success (unless asked not
to): the bytes are written to a temporary file beside the output, read back, decoded
exactly as ``decompress`` would decode them (:func:`decode_container`: parse, rebuild the
coder from the header, decode every frame) and compared with the input; only then is the
temporary file renamed into place. A file that does not decode is deleted and reported
as a :class:`VerificationError`. The check decodes frames of every codec.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import numpy as np

from bitsback_core.ans.message import EmptyStackError, Message, MessageFormatError
from bitsback_core.coders.interface import Coder
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.compression.container import (
    CODEC_BITS_BACK,
    DEFAULT_FRAME_IMAGES,
    FRAME_HEAD_BYTES,
    MAX_MODEL_NAME,
    CompressedFile,
    ContainerError,
    Header,
    encode_frame,
    header_problem,
    identity_prefix,
)
from bitsback_core.compression.fallback import FallbackError, best_fallback, decode_fallback
from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError, ConfigError, UnknownComponentError
from bitsback_core.models.interface import LatentVariableModel
from bitsback_core.pipeline.components import (
    Components,
    find_model_by_identity,
    portable_format_of,
)
from bitsback_core.pipeline.frames import default_jobs, map_in_order, select_frames
from bitsback_core.pipeline.progress import Advance, ProgressFactory, no_progress
from bitsback_core.registry import Registry, load_registry
from bitsback_core.session import CodingSession

__all__ = [
    "FALLBACK_MODES",
    "CompressResult",
    "VerificationError",
    "as_binary_images",
    "compress_to_file",
    "decode_container",
    "decompress_file",
    "decompress_to_npy",
    "float_arithmetic_warning",
    "iter_decoded_frames",
]


class VerificationError(BitsbackError, RuntimeError):
    """A freshly compressed file does not decode to its input (the file was not kept)."""


#: ``fallback`` values: ``auto`` stores a frame with the best classical codec when that is
#: shorter than its bits-back message; ``never`` keeps every frame a bits-back message.
FALLBACK_MODES = ("auto", "never")


@attrs.frozen
class CompressResult:
    path: str
    num_images: int
    obs_dim: int
    file_bytes: int
    #: Code length of the images: a bits-back frame's net bits (initial bits credited), a
    #: classical frame's whole payload (8 bits a byte; it has no initial bits).
    net_bits: float
    #: Payload bits: a bits-back frame's message (heads and words), a classical frame's bytes.
    total_bits: int
    encode_s: float
    #: Bytes that are not payload: prefix, header, header CRC and 9 per frame.
    header_bytes: int = 0
    num_frames: int = 1
    #: Seconds spent checking that the written bytes decode to the input; None: not checked.
    verify_s: float | None = None
    #: Each frame's codec byte (0 bits-back, 1 bz2, 2 context model), in frame order.
    frame_codecs: tuple[int, ...] = ()

    @property
    def file_bpd(self) -> float:
        return 8 * self.file_bytes / (self.num_images * self.obs_dim)


def as_binary_images(x: np.ndarray, obs_dim: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Validate user images (0/1 values, ``(n, obs_dim)`` or ``(n, h, w)``, checked as
    :func:`_check_images` checks them); flatten them to ``(n, obs_dim)`` uint8 and return
    their image shape."""
    x = _check_images(x, obs_dim)
    return x.reshape(x.shape[0], obs_dim).astype(np.uint8), tuple(x.shape[1:])


#: Rows checked or copied at a time when the input is scanned before coding.
_SCAN_ROWS = 10_000


def _check_images(images: Any, obs_dim: int) -> np.ndarray:
    """``images`` as an array (a memmap stays one), checked: a non-empty ``(n, ...)`` array
    of ``obs_dim`` pixels an image, integer or bool, every value 0 or 1 (a ConfigError
    says which is wrong).

    Nothing is flattened or copied whole: the values are scanned ``_SCAN_ROWS`` at a time
    and a memory-mapped input's pages are let go after each block, so a million images are
    checked before coding in bounded memory.
    """
    x = np.asarray(images)
    if x.ndim < 2 or x.shape[0] == 0 or int(np.prod(x.shape[1:])) != obs_dim:
        raise ConfigError(
            f"expected a non-empty array of images with {obs_dim} pixels each, got shape {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.integer) and not np.issubdtype(x.dtype, np.bool_):
        raise ConfigError(f"images must be integers 0/1, got dtype {x.dtype}")
    for start in range(0, x.shape[0], _SCAN_ROWS):
        block = x[start : start + _SCAN_ROWS]
        if x.dtype == np.bool_:
            block = block.view(np.uint8)  # a bool array's bytes can hold values other than 0/1
        bad = (
            np.any(block > 1)
            if np.issubdtype(block.dtype, np.unsignedinteger)
            else np.any((block != 0) & (block != 1))
        )
        _release_pages(x)
        if bad:
            raise ConfigError("images must be binary (0/1): binarize them first")
    return x


def _rows(x: np.ndarray, sl: slice, obs_dim: int) -> np.ndarray:
    """Images ``sl`` of ``x`` as a fresh ``(n, obs_dim)`` uint8 array (the coder's input)."""
    rows = np.array(x[sl], dtype=np.uint8, copy=True).reshape(-1, obs_dim)
    _release_pages(x)
    return rows


def _release_pages(x: np.ndarray) -> None:
    """Let the kernel drop a read-only memory-mapped input's pages from this process.

    Pages read through a mapping stay resident (and counted in the process's RSS) until
    the kernel needs the memory; coding a 784 MB input frame by frame would otherwise end
    with all of it resident. ``MADV_DONTNEED`` on a read-only shared mapping only unmaps:
    the data stays in the page cache and is read back on the next access. ``x`` may be a
    view of the map (``np.asarray`` of a memmap is a plain ndarray over it), so the
    ``base`` chain is walked; anything not read-only (a writable or copy-on-write map,
    whose private pages would be lost) or not mapped is left alone.
    """
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    base: Any = x
    read_only = False
    while base is not None and not isinstance(base, mmap.mmap):
        if isinstance(base, np.memmap):
            read_only = getattr(base, "mode", None) == "r"
        base = getattr(base, "base", None)
    if base is not None and read_only:
        try:
            base.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # a closed map or an OS without it: only memory is at stake
            pass


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
    session: CodingSession, images: np.ndarray, count: int, frame_images: int
) -> Header:
    """The header for ``count`` images ``images``; a value the format cannot hold is a ConfigError.

    The model name is the catalogue's short name of the model's folder (``mnist-elbo``), cut
    to the format's 32 characters: a label for messages and the lookup order, never a path.
    """
    from bitsback_core.models.catalogue import model_name as catalogue_name

    config, registry, parts = session.config, session.registry, session.components
    iterative = config.iterative_post_improvement
    layout = session.layout(min(count, max(1, frame_images)))
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
        identity=identity_prefix(session.model_identity),
        model_name=_printable(catalogue_name(source.checkpoint.resolve().parent.name))[:MAX_MODEL_NAME],
        dtype=images.dtype.str,
        image_shape=tuple(int(d) for d in images.shape[1:]),
        num_images=count,
        frame_images=frame_images,
        portable_format=portable_format_of(parts.model) or 1,
    )  # fmt: skip
    problem = header_problem(header)
    if problem:
        raise ConfigError(f"cannot write a bitsback file with these settings: {problem}")
    return header


@attrs.frozen
class _Frame:
    """One coded frame: its codec byte, payload and bits (see :class:`CompressResult`)."""

    codec: int
    payload: bytes
    net_bits: float
    total_bits: int


def _code_frame(
    coder: Coder,
    header: Header,
    index: int,
    rows: np.ndarray,
    fallback: str,
    advance: Advance,
    fallback_codecs: Sequence[int] | None = None,
    groups_of: Callable[[ChainLayout], int] | None = None,
) -> _Frame:
    """Frame ``index`` of ``rows`` (``(n, obs_dim)`` uint8): its bits-back message, or with
    ``fallback="auto"`` the best classical code of its images when that is strictly shorter.
    ``groups_of``: how many chain groups to code on threads (None: one group).

    The classical codecs see the images in the header's image shape, the shape the decoder
    hands them back in (a flat 784 is coded as a 28 x 28 page either way).
    """
    layout = header.frame_layout(index)
    message = Message(
        (layout.chains, layout.lanes), header.lprec, header.bprec, seed=header.frame_seed(index)
    )
    groups = 1 if groups_of is None else groups_of(layout)
    encode_dataset(coder, rows, layout, message, advance, groups)
    frame = _Frame(CODEC_BITS_BACK, message.to_frame_bytes(), message.net_bits, message.total_bits)
    if fallback == "auto":
        images = rows.reshape(rows.shape[0], *header.image_shape)
        codec, classical = best_fallback(images, fallback_codecs)
        if len(classical) < len(frame.payload):
            return _Frame(codec, classical, 8.0 * len(classical), 8 * len(classical))
    return frame


class _FrameEncoder:
    """Codes frames of a file: a task ``(index, rows)`` gives frame ``index``'s :class:`_Frame`.

    The calling process passes its own ``coder``. Module-level, so a worker process builds
    its own from ``(header, checkpoint, gpu, name, fallback, fallback_codecs)``: the session
    a decoder of the file would build (the coder, model and settings the header records,
    the model checked by identity). Its encoder writes the bytes this process's would,
    since decoding rebuilds exactly that coder from the same header.
    """

    def __init__(
        self,
        header: Header,
        checkpoint: str | None,
        gpu: int,
        name: str,
        fallback: str,
        fallback_codecs: Sequence[int] | None,
        coder: Coder | None = None,
        advance: Advance | None = None,
    ) -> None:
        self.header, self.checkpoint, self.gpu, self.name = header, checkpoint, gpu, name
        self.fallback, self.fallback_codecs = fallback, fallback_codecs
        self.coder, self.advance = coder, advance
        #: Set where the calling process codes alone (its session's ``chain_groups``):
        #: frames then code chain groups on threads (never in workers, which are the
        #: parallelism already).
        self.groups_of: Callable[[ChainLayout], int] | None = None

    def __call__(self, task: tuple[int, np.ndarray]) -> _Frame:
        index, rows = task
        if self.coder is None:
            registry = load_registry()
            session = _decoder_session(self.header, self.checkpoint, self.gpu, self.name, registry)
            self.coder = session.coder
        advance = self.advance or (lambda _: None)
        return _code_frame(
            self.coder, self.header, index, rows, self.fallback, advance, self.fallback_codecs,
            self.groups_of,
        )  # fmt: skip


class _FrameRows(Sequence[tuple[int, np.ndarray]]):
    """The encoding tasks ``(index, rows)``, each frame's rows read only when it is sent."""

    def __init__(self, x: np.ndarray, header: Header, obs_dim: int) -> None:
        self.x, self.header, self.obs_dim = x, header, obs_dim

    def __len__(self) -> int:
        return self.header.num_frames

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, int):
            raise TypeError("frame tasks are read one index at a time")
        if not 0 <= index < len(self):
            raise IndexError(index)  # ends iteration (``Sequence.__iter__``)
        return index, _rows(self.x, self.header.frame_slice(index), self.obs_dim)


def _encode_frames(
    local: _FrameEncoder,
    x: np.ndarray,
    obs_dim: int,
    out: BinaryIO,
    advance: Advance,
    jobs: int,
) -> tuple[float, int, tuple[int, ...]]:
    """Code every frame of ``x`` in ``jobs`` processes and append each to ``out`` in order
    as it comes; net and total bits and each frame's codec.

    Only a few frames' images and messages are held at a time (:func:`map_in_order`'s
    window), so the memory needed does not grow with the input.
    """
    header = local.header
    net, total, codecs = 0.0, 0, []
    crc = header.checksum()
    reported = [0]  # images this process reported while coding the frame just returned

    def count(n: int) -> None:
        reported[0] += n
        advance(n)

    local.advance = count
    args = (header, local.checkpoint, local.gpu, local.name, local.fallback, local.fallback_codecs)
    tasks = _FrameRows(x, header, obs_dim)
    for index, frame in enumerate(map_in_order(local, _FrameEncoder, args, tasks, jobs)):
        sl = header.frame_slice(index)
        advance(sl.stop - sl.start - reported[0])  # a worker's frame, or nothing left to report
        reported[0] = 0
        out.write(encode_frame(crc, index, frame.payload, frame.codec))
        net += frame.net_bits
        total += frame.total_bits
        codecs.append(frame.codec)
    return net, total, tuple(codecs)


def _check_request(output: Path, overwrite: bool, fallback: str) -> None:
    """What can be refused before the model is even loaded: the mode and the output."""
    if fallback not in FALLBACK_MODES:
        raise ConfigError(f"fallback must be one of {', '.join(FALLBACK_MODES)}, got {fallback!r}")
    _check_output(output, overwrite)


def _check_output(output: Path, overwrite: bool) -> None:
    """Refuse an ``output`` that exists (unless ``overwrite``) or whose folder does not."""
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists (use --force to overwrite)")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"directory {output.parent} does not exist")


def compress_to_file(
    config: Config,
    registry: Registry,
    images: np.ndarray,
    output: Path,
    overwrite: bool = False,
    progress: ProgressFactory = no_progress,
    verify: bool = True,
    frame_images: int = DEFAULT_FRAME_IMAGES,
    *,
    jobs: int | None = None,
    fallback: str = "auto",
    fallback_codecs: Sequence[int] | None = None,
    session: CodingSession | None = None,
) -> CompressResult:
    """Encode ``images`` with the configured coder and write the compressed file.

    ``images`` is any array-like of 0/1 images; a read-only ``np.memmap`` (``np.load(...,
    mmap_mode="r")``) is read a frame at a time and never held whole. ``frame_images``
    images go into each frame (independent messages), and each frame is written to a
    temporary file beside ``output`` as soon as it is coded. Frames are encoded in ``jobs``
    processes (default: one per CPU, at most one per frame and per
    :data:`~bitsback_core.pipeline.frames.IMAGES_PER_JOB` images; 1 = this process): each
    worker builds the coder a decoder of the file would build, so the bytes do not depend
    on ``jobs``. With ``verify`` (the default) the written bytes are decoded frame by frame
    as ``decompress`` would decode them, in as many processes, and compared with
    ``images``; a mismatch or a decoding error raises :class:`VerificationError` and
    leaves no output (an existing file is kept). The output is always moved into place
    atomically. ``fallback`` (:data:`FALLBACK_MODES`): ``"auto"`` stores a frame with the
    best classical codec when that is shorter than its bits-back message, ``"never"``
    keeps every frame a bits-back message; ``fallback_codecs``: the classical codecs
    ``"auto"`` tries (default: all; e.g. ``[1, 2]`` writes a file as releases before codec
    3 did). ``session``: a session already built from ``config`` and ``registry`` (its
    coder is used in this process; nothing is loaded again here).
    """
    output = Path(output)
    _check_request(output, overwrite, fallback)
    if session is None:
        session = CodingSession.from_config(config, registry)
    obs_dim = session.components.model.obs_dim
    x = _check_images(images, obs_dim)
    header = _file_header(session, x, x.shape[0], frame_images)
    workers = default_jobs(jobs, header.num_frames, header.num_images)  # refused before any work
    checkpoint = str(session.components.source.checkpoint)
    local = _FrameEncoder(
        header, checkpoint, config.gpu, str(output), fallback, fallback_codecs, session.coder
    )
    local.groups_of = session.chain_groups if workers == 1 else None
    head = header.to_bytes()
    verify_s: float | None = None
    # The file is created before coding, so an unwritable folder is reported before any work.
    with _written_beside(output, overwrite) as tmp:
        with open(tmp, "xb") as fh:
            fh.write(head)
            started = time.perf_counter()
            advance = progress("encode", x.shape[0])
            net_bits, total_bits, codecs = _encode_frames(local, x, obs_dim, fh, advance, workers)
            encode_s = time.perf_counter() - started
        if verify:
            started = time.perf_counter()
            _verify_written(
                tmp, output, registry, x, header, checkpoint, config.gpu, progress, jobs
            )
            verify_s = time.perf_counter() - started
        file_bytes = tmp.stat().st_size
    return CompressResult(
        path=str(output),
        num_images=int(x.shape[0]),
        obs_dim=int(obs_dim),
        file_bytes=file_bytes,
        net_bits=net_bits,
        total_bits=total_bits,
        encode_s=encode_s,
        header_bytes=len(head) + FRAME_HEAD_BYTES * header.num_frames,
        num_frames=header.num_frames,
        verify_s=verify_s,
        frame_codecs=codecs,
    )


def _verify_written(
    tmp: Path,
    output: Path,
    registry: Registry,
    original: np.ndarray,
    header: Header,
    checkpoint: str,
    gpu: int,
    progress: ProgressFactory,
    jobs: int | None,
) -> None:
    """Decode the bytes in ``tmp`` like ``decompress`` would; raise unless they give ``original``.

    ``checkpoint`` is the encoder's model (a decoder elsewhere finds it by identity or
    ``--checkpoint``; its identity is checked either way). The file must parse to
    ``header`` and every decoded frame must equal its images of ``original`` in values,
    shape and dtype; frames are compared as they arrive, so neither side is held whole.
    Errors name ``output``, not the temporary file.
    """
    expected_shape = (header.frame_images, *original.shape[1:])
    try:
        container = CompressedFile.read(tmp)
        if container.header != header:
            raise ContainerError("the header read back differs from the header written")
        decoded_frames = iter_decoded_frames(
            container,
            registry,
            checkpoint=checkpoint,
            gpu=gpu,
            progress=lambda _, total: progress("verify", total),
            name=str(output),
            jobs=jobs,
        )
        for index, decoded in decoded_frames:
            sl = header.frame_slice(index)
            if (
                decoded.dtype != original.dtype
                or decoded.shape[1:] != expected_shape[1:]
                or (decoded.shape[0] != sl.stop - sl.start)
            ):
                raise VerificationError(
                    f"verification failed: decoded frame {index} as a {decoded.dtype} array of shape "
                    f"{decoded.shape}, expected {original.dtype} of shape "
                    f"{(sl.stop - sl.start, *original.shape[1:])}; {output} was not written"
                )
            flat = _rows(original, sl, decoded[0].size)
            rows = np.flatnonzero(np.any(decoded.reshape(flat.shape) != flat, axis=1))
            if rows.size:
                raise VerificationError(
                    f"verification failed: decoded images differ from the input at image "
                    f"{sl.start + int(rows[0])} ({rows.size} of {flat.shape[0]} in frame {index} differ); "
                    f"{output} was not written"
                )
    except VerificationError:
        raise
    except Exception as exc:  # any decoder failure means the file is unusable
        detail = " ".join(str(exc).split()) or "no message"
        raise VerificationError(
            f"verification failed: {output} does not decode ({type(exc).__name__}: {detail}); "
            f"{output} was not written"
        ) from exc


@contextlib.contextmanager
def _written_beside(output: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary path beside ``output`` for the block to write, renamed into place when
    the block completes and removed in any case: an error or Ctrl-C leaves no partial file.

    A new hidden name in the same folder (same file system, so the rename is atomic; a
    caller opens it with "x", so it gets the usual permissions and clobbers nothing).
    """
    tmp = output.parent / f".{output.name}.{secrets.token_hex(6)}.tmp"
    try:
        yield tmp
        _move_into_place(tmp, output, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


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
        "portable_format": header.portable_format if header.portable else None,
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
    if header.portable and header.portable_format not in model_cls.PORTABLE_FORMATS:
        raise ContainerError(
            f"{name} was coded with portable model format {header.portable_format}, which model "
            f"plugin {header.model!r} does not offer here (it has "
            f"{', '.join(map(str, model_cls.PORTABLE_FORMATS))}): update that plugin"
        )


def _locate_model(
    header: Header, config: Config, registry: Registry, checkpoint: str | None, name: str
) -> Config:
    """``config`` with the model to decode with: ``checkpoint``, or the project's model by identity."""
    if checkpoint:
        return attrs.evolve(config, checkpoint=checkpoint, train_config=None)
    source = find_model_by_identity(
        header.identity_hex, header.arithmetic, registry, prefer=header.model_name or None,
        portable_format=config.portable_format,
    )  # fmt: skip
    if source is None:
        label = header.model_name or "unnamed"
        raise ConfigError(
            f"{name} was compressed with model {label!r} (identity {header.identity_hex[:12]}...), "
            "which is not among this installation's models: pass --checkpoint model.pt"
        )
    return attrs.evolve(
        config, checkpoint=str(source.checkpoint), train_config=str(source.train_config_path)
    )


def _check_model(header: Header, parts: Components, registry: Registry, name: str) -> None:
    """The loaded model must be the file's kind: same plugin, latent size and pixels.

    Called by :meth:`CodingSession.for_decoding` before the coder is built; the identity
    is checked on the session right after (:func:`_check_identity`).
    """
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


def _check_identity(header: Header, session: CodingSession, name: str) -> None:
    """The session's model must be the encoder's: its identity starts with the file's."""
    actual = session.model_identity
    if not header.identity_matches(actual):
        raise ConfigError(
            f"model {session.components.source.checkpoint} (sha256 {actual[:12]}...) is not the one {name} "
            f"was compressed with (sha256 {header.identity_hex[:12]}...): pass the right --checkpoint"
        )


def _decoder_session(
    header: Header, checkpoint: str | None, gpu: int, name: str, registry: Registry
) -> CodingSession:
    """The session that decodes the bits-back frames of a file with ``header``.

    Built from the header alone (plus the ``checkpoint``/``gpu`` overrides), so decoding
    depends on nothing of the process that encoded it; the model is found by identity
    (or taken from ``checkpoint``) and checked before any frame is decoded.
    """
    _check_installed(header, registry, name)
    config = _locate_model(header, _decoder_config(header, gpu), registry, checkpoint, name)
    session = CodingSession.for_decoding(
        config, registry, check=lambda parts: _check_model(header, parts, registry, name)
    )
    _check_identity(header, session, name)
    return session


#: A frame to decode: its index, codec byte and payload.
FrameTask = tuple[int, int, bytes]


class _FrameDecoder:
    """Decodes ``(index, codec, payload)`` of a file with ``header`` to the frame's images.

    Dispatches on the codec byte: a bits-back frame (codec 0) through the decoder session,
    a classical one through its fallback codec, which needs no model. The session is built
    on the first bits-back frame, or at once by :meth:`load` (the calling process does
    that when any selected frame needs it, so a wrong model is one error before any
    worker starts). Module-level, so a worker process builds its own from ``(header,
    checkpoint, gpu, name)`` (``registry`` None: the installed plugins); ``advance`` is
    told of every decoded image (this process only: workers report whole frames through
    their results).
    """

    def __init__(
        self,
        header: Header,
        checkpoint: str | None,
        gpu: int,
        name: str,
        registry: Registry | None = None,
        advance: Advance | None = None,
    ) -> None:
        self.header, self.checkpoint, self.gpu, self.name = header, checkpoint, gpu, name
        self.registry, self.advance = registry, advance
        self._session: CodingSession | None = None
        #: Whether to decode chain groups on threads (set where this process decodes alone).
        self.chain_threads = False

    def load(self) -> CodingSession:
        """The decoder session, built (and its model checked) on first use."""
        if self._session is None:
            registry = load_registry() if self.registry is None else self.registry
            self._session = _decoder_session(
                self.header, self.checkpoint, self.gpu, self.name, registry
            )
        return self._session

    def __call__(self, task: FrameTask) -> np.ndarray:
        index, codec, payload = task
        if codec != CODEC_BITS_BACK:
            images = _decode_classical(self.header, index, codec, payload, self.name)
            if self.advance is not None:
                self.advance(images.shape[0])
            return images
        session = self.load()
        obs_dim = session.components.model.obs_dim
        groups_of = session.chain_groups if self.chain_threads else None
        return _decode_frame(
            session.coder, self.header, index, payload, obs_dim, self.advance, self.name, groups_of
        )


def _decode_classical(
    header: Header, index: int, codec: int, payload: bytes, name: str
) -> np.ndarray:
    """A classical frame's uint8 images ``(n, *image_shape)``; a defect is a ContainerError naming it."""
    sl = header.frame_slice(index)
    try:
        return decode_fallback(codec, payload, sl.stop - sl.start, header.image_shape)
    except FallbackError as exc:
        raise ContainerError(f"{name}, frame {index}: {exc}") from None


def _decode_frame(
    coder: Coder,
    header: Header,
    index: int,
    frame: bytes,
    obs_dim: int,
    advance: Advance | None,
    name: str,
    groups_of: Callable[[ChainLayout], int] | None = None,
) -> np.ndarray:
    """Decode bits-back frame ``index`` on its own; any inconsistency is a ContainerError naming the frame.

    ``groups_of`` as for :func:`_code_frame`.
    """
    where = f"{name}, frame {index}"
    layout = header.frame_layout(index)
    shape = (layout.chains, layout.lanes)
    try:
        message = Message.from_frame_bytes(
            frame, shape, header.lprec, header.bprec, header.frame_seed(index)
        )
        groups = 1 if groups_of is None else groups_of(layout)
        x = decode_dataset(coder, message, layout, obs_dim, advance, groups)
    except (MessageFormatError, EmptyStackError) as exc:
        raise ContainerError(f"{where}: {exc}") from None
    except (ValueError, AssertionError) as exc:
        # Bytes that pass the checksum but hold something else make the decoder push
        # impossible intervals or read weights outside the model's support.
        raise ContainerError(
            f"{where}: the data does not decode with this model and settings ({exc})"
        ) from None
    if not message.is_initial_state():
        raise ContainerError(
            f"{where}: decoding did not return the message to its initial state (corrupt data)"
        )
    return x


def _select_frames(header: Header, frames: slice | None, name: str) -> tuple[range, int]:
    """The frame indices ``frames`` selects (:func:`select_frames`) and their image count."""
    selected = select_frames(header.num_frames, frames, name)
    return selected, sum(header.frame_slice(i).stop - header.frame_slice(i).start for i in selected)


def iter_decoded_frames(
    container: CompressedFile,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
    name: str = "input",
    *,
    frames: slice | None = None,
    jobs: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode the selected frames in order: ``(frame index, images)`` one frame at a time.

    ``frames`` selects frame indices with slice semantics (None: all); a bound outside the
    file's frames or an empty selection is a :class:`FrameRangeError`, raised before any
    model is loaded. ``jobs`` processes decode (default: one per CPU, at most one per
    selected frame; 1 = this process only); the bytes decoded and the images returned do
    not depend on it. Each frame is decoded by its codec: the model is loaded and checked
    here, before any worker starts, when a selected frame is a bits-back message, and not
    at all when every selected frame is classical (such a file decodes without its model).
    Worker processes load the model from the installed plugins, the same way, on their
    first bits-back frame. Each frame's images come in the input's dtype and image shape.
    """
    header = container.header
    selected, total = _select_frames(header, frames, name)
    workers = default_jobs(jobs, len(selected), total)
    advanced = [0]  # images this process reported while decoding the frame just returned

    def count(n: int) -> None:
        advanced[0] += n
        advance(n)

    local = _FrameDecoder(header, checkpoint, gpu, name, registry, count)
    local.chain_threads = workers == 1
    if any(container.codecs[i] == CODEC_BITS_BACK for i in selected):
        local.load()
    advance = progress("decode", total)
    tasks = [(index, container.codecs[index], container.frames[index]) for index in selected]
    args = (header, checkpoint, gpu, name)
    dtype, shape = np.dtype(header.dtype), header.image_shape
    for index, rows in zip(
        selected, map_in_order(local, _FrameDecoder, args, tasks, workers), strict=True
    ):
        advance(rows.shape[0] - advanced[0])  # a worker's frame, or nothing left to report
        advanced[0] = 0
        yield index, rows.reshape((rows.shape[0], *shape)).astype(dtype, copy=False)


def decode_container(
    container: CompressedFile,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
    name: str = "input",
    *,
    frames: slice | None = None,
    jobs: int | None = None,
) -> tuple[np.ndarray, Header]:
    """Decode a parsed file held in memory; ``name`` labels it in error messages.

    Returns the images of the selected ``frames`` (default all) in the input's shape and
    dtype, and the header; ``jobs`` as in :func:`iter_decoded_frames`. The whole output is
    built in memory: :func:`decompress_to_npy` writes a file frame by frame instead.
    """
    parts = [x for _, x in iter_decoded_frames(
        container, registry, checkpoint, gpu, progress, name, frames=frames, jobs=jobs
    )]  # fmt: skip
    return np.concatenate(parts), container.header


def decompress_file(
    path: Path,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
    *,
    frames: slice | None = None,
    jobs: int | None = None,
) -> tuple[np.ndarray, Header]:
    """Decode a compressed file; returns the images (original shape and dtype) and the header."""
    container = CompressedFile.read(Path(path))
    return decode_container(
        container, registry, checkpoint, gpu, progress, name=str(path), frames=frames, jobs=jobs
    )


def decompress_to_npy(
    path: Path,
    output: Path,
    registry: Registry,
    checkpoint: str | None = None,
    gpu: int = -1,
    progress: ProgressFactory = no_progress,
    *,
    frames: slice | None = None,
    jobs: int | None = None,
    overwrite: bool = False,
    container: CompressedFile | None = None,
    name: str | None = None,
) -> tuple[int, Header]:
    """Decode ``path`` into the ``.npy`` file ``output`` one frame at a time; (images, header).

    The array header is written first (its shape is known from the file header and the
    selection), then each frame's images as soon as they are decoded, so memory holds a
    few frames, not the output. Written with plain writes rather than through a memory
    map: pages written through a map stay in the process's resident set. The file goes
    to a temporary name beside ``output`` and is renamed into place when complete; an
    error or Ctrl-C leaves no partial file and never replaces an existing one unless
    ``overwrite``. ``container``: ``path`` already parsed (a caller that inspected it, or
    stdin); ``name`` labels it in errors (default ``path``).
    """
    output, path = Path(output), Path(path)
    name = str(path) if name is None else name
    _check_output(output, overwrite)
    container = CompressedFile.read(path) if container is None else container
    header = container.header
    count = _select_frames(header, frames, name)[1]
    array_header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(header.dtype)),
        "fortran_order": False,
        "shape": (count, *header.image_shape),
    }
    with _written_beside(output, overwrite) as tmp, open(tmp, "xb") as fh:
        np.lib.format.write_array_header_1_0(fh, array_header)
        decoded = iter_decoded_frames(
            container, registry, checkpoint, gpu, progress, name, frames=frames, jobs=jobs
        )
        fh.writelines(np.ascontiguousarray(images).tobytes() for _, images in decoded)
    return count, header
