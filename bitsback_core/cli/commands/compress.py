"""``bitsback compress FILE...``: binary images to ``.bbz`` files, shaped like gzip and zstd.

Each input gets its own output, ``FILE.bbz`` beside it (a PNG folder ``digits/`` gives
``digits.bbz``). Inputs are kept unless ``--rm`` (zstd's choice: deleting by default,
as gzip does, costs the original when the user did not expect it; ``--rm`` deletes an
input only after its output was written and decoded back to it). ``-`` reads a .npy from
stdin; ``-o -`` or ``-c`` writes the compressed bytes to stdout.

Every input is read and checked, and every output place checked, before the first image
is coded: a mistake in the third of three inputs costs nothing. The work itself is the
library's :func:`~bitsback_core.pipeline.files.compress_to_file`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args, positive_int
from bitsback_core.pipeline.prechecks import STDIO

if TYPE_CHECKING:
    import numpy as np

    from bitsback_core.cli.terminal import Terminal
    from bitsback_core.config import Config
    from bitsback_core.pipeline.files import CompressResult
    from bitsback_core.registry import Registry


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compress",
        help="compress binary images (.npy, .npz, PNGs) into .bbz files",
        description=(
            "Compress binary images with bits-back coding, one .bbz file per input, written "
            "beside it as FILE.bbz (a PNG folder DIR gives DIR.bbz). Inputs: .npy, .npz (one "
            "array), black-and-white PNG files or folders of them; '-' reads a .npy from stdin. "
            "Without inputs, the seeded test images of the configured dataset/split "
            "(--num_compress) are compressed to -o PATH. Inputs are kept unless --rm. Each "
            "written file is decoded as 'bitsback decompress' would and compared with its input "
            "before it is kept."
        ),
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="FILE", help="images to compress ('-': a .npy from stdin)"
    )
    parser.add_argument(
        "--input",
        "-i",
        dest="input_alias",
        action="append",
        default=[],
        metavar="FILE",
        help="the same as a FILE argument (kept for older scripts)",
    )
    parser.add_argument(
        "--output",
        "-o",
        default=None,
        metavar="PATH",
        help="output file (one input only; '-': stdout)",
    )
    parser.add_argument("--stdout", "-c", action="store_true", help="write to stdout (as -o -)")
    parser.add_argument("--force", "-f", action="store_true", help="overwrite existing outputs")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep", "-k", action="store_true", help="keep the inputs (the default)")
    keep.add_argument(
        "--rm",
        action="store_true",
        help="delete each input once its output is written and verified",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not decode the written file to check it (decoding costs about the encode time)",
    )
    parser.add_argument(
        "--frame-images",
        dest="frame_images",
        type=positive_int,
        default=None,
        metavar="N",
        help="images per frame (independent, checksummed messages; default 10000)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=positive_int,
        default=None,
        metavar="N",
        help=(
            "processes encoding and verifying frames (default: one per CPU and frame, "
            "at most one per 10000 images; 1: this one); the bytes do not depend on it"
        ),
    )
    parser.add_argument(
        "--fallback",
        choices=("auto", "never"),
        default="auto",
        help=(
            "auto (default): store a frame with a classical codec (bz2 or a context-model "
            "bilevel coder) when that is shorter than its bits-back message; never: always bits-back"
        ),
    )
    # --no-verify decides the decode check; no training keys.
    add_config_options(parser, groups=("data", "model", "coding", "output"), omit=("decode_check",))
    return parser


def _plan(args: argparse.Namespace, json_output: bool) -> tuple[list[str], list[str]]:
    """The inputs and, for each, its output (``-``: stdout), from the options alone."""
    from bitsback_core.errors import ConfigError
    from bitsback_core.pipeline.prechecks import compressed_name, route_outputs

    inputs = [*args.inputs, *args.input_alias]
    # Without inputs the configured test images are coded (the placeholder never names a file).
    outputs = route_outputs(
        inputs or ["(test images)"], args.output, args.stdout, compressed_name,
        "without -o each input FILE gets FILE.bbz beside it",
    )  # fmt: skip
    if not inputs:
        if args.output is None and outputs != [STDIO]:
            raise ConfigError(
                "no input files: name them (bitsback compress FILE...), or give -o PATH to "
                "compress the configured test images"
            )
        if args.rm:
            raise ConfigError("--rm deletes input files, and none were given")
    if args.rm and not args.verify:
        raise ConfigError(
            "--rm deletes an input only after its output is verified: drop --no-verify"
        )
    if STDIO in outputs:
        if json_output:
            raise ConfigError("--json and compressed data cannot share stdout: use -o PATH")
        if sys.stdout.isatty():
            raise ConfigError(
                "refusing to write compressed data to a terminal: redirect stdout or use -o PATH"
            )
    return inputs, outputs


def _check_device(config: Config, explicit: bool, terminal: Terminal) -> Config:
    """``--gpu N`` typed here must exist; a config file's ``gpu`` falls back with a warning."""
    import attrs

    from bitsback_core.pipeline.device import resolve_device
    from bitsback_core.pipeline.prechecks import check_gpu

    if explicit:
        check_gpu(config.gpu)
        return config
    device, warning = resolve_device(config.gpu)
    if warning:
        terminal.warn(warning)
    return attrs.evolve(config, gpu=-1) if device == "cpu" else config


def _model_pixels(config: Config, registry: Registry) -> int:
    """Pixels per image of the configured model, without loading it when its class says."""
    from bitsback_core.pipeline.components import build_components, resolve_model_source

    registry.entry("coder", config.coder)  # an unknown coder is refused here, before any work
    source = resolve_model_source(config)
    obs_dim = getattr(registry.get("model", source.train_config.model), "obs_dim", None)
    if isinstance(obs_dim, int):
        return obs_dim
    return int(build_components(config, registry).model.obs_dim)


def _no_model_named(args: argparse.Namespace, config: Config) -> bool:
    """Whether the user left the model to us (no checkpoint or train_config anywhere)."""
    from bitsback_core.cli.options import given_keys
    from bitsback_core.pipeline.run import MODEL_KEYS

    given = given_keys(args)
    return not any(key in given or getattr(config, key) for key in MODEL_KEYS)


def _best_model(
    config: Config, registry: Registry, images: np.ndarray, terminal: Terminal
) -> Config:
    """``config`` with the installed model that scores best on a sample of ``images``."""
    import attrs

    from bitsback_core.pipeline.components import model_catalogue
    from bitsback_core.pipeline.model_choice import SAMPLE_IMAGES, choose_model

    entry, scores = choose_model(images, model_catalogue(), registry, config.seed)
    if entry is None:
        return config
    sample = min(len(images), SAMPLE_IMAGES)
    terminal.info(f"model not set: {entry.name} fits best (ELBO bits/dim, {sample} images):")
    terminal.info("  " + ", ".join(f"{s.name} {s.bpd:.4f}" for s in scores[:3]))
    return attrs.evolve(config, checkpoint=entry.name)


def _read(source: str, obs_dim: int) -> np.ndarray:
    """The checked images of one input (``-``: a .npy on stdin)."""
    from bitsback_core.pipeline.image_io import check_images, read_images, read_npy_bytes

    if source == STDIO:
        images = read_npy_bytes(sys.stdin.buffer.read(), name="stdin")
        check_images(images, "stdin", obs_dim)
    else:
        images = read_images(Path(source))
        check_images(images, source, obs_dim)
    return images


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import attrs

    from bitsback_core.compression.container import DEFAULT_FRAME_IMAGES
    from bitsback_core.pipeline.data import load_images
    from bitsback_core.pipeline.prechecks import check_distinct, check_output, check_seed
    from bitsback_core.registry import load_registry

    # 1. Options, outputs and inputs, all checked before any coding.
    config = config_from_args(args, terminal.info)
    inputs, outputs = _plan(args, config.json)
    check_seed(config.seed)
    config = _check_device(config, "gpu" in args.config_overrides, terminal)
    check_distinct(inputs, outputs)
    for output in outputs:
        if output != STDIO:
            check_output(Path(output), args.force)
    registry = load_registry()
    obs_dim = _model_pixels(config, registry)
    if inputs:
        batches = [_read(source, obs_dim) for source in inputs]
    else:
        batches = [load_images(config, registry)]

    # 2. Code each input in turn.
    reports: list[dict[str, Any]] = []
    sources: list[str | None] = [*inputs] if inputs else [None]
    auto_model = bool(inputs) and _no_model_named(args, config)
    for source, output, images in zip(sources, outputs, batches):
        chosen = _best_model(config, registry, images, terminal) if auto_model else config
        with terminal.tasks() as progress:
            result = _compress_one(
                chosen, registry, images, output, args, progress,
                args.frame_images or DEFAULT_FRAME_IMAGES,
            )  # fmt: skip
        if args.rm and source not in (None, STDIO):
            _remove_input(Path(source), Path(output))
        report = {
            **attrs.asdict(result),
            "file_bpd": result.file_bpd,
            "input": source or "test images",
        }
        reports.append(report)
        if not config.json:
            terminal.result_fields(
                "stdout" if output == STDIO else output,
                result_fields(result),
                to_stderr=output == STDIO,
            )
    if config.json:
        terminal.json(reports[0] if len(reports) == 1 else reports)
    return 0


def _compress_one(
    config: Config,
    registry: Registry,
    images: np.ndarray,
    output: str,
    args: argparse.Namespace,
    progress: Any,
    frame_images: int,
) -> CompressResult:
    """Compress to ``output``; for stdout, through a private temporary file (then copied)."""
    import attrs

    from bitsback_core.pipeline.files import compress_to_file

    if output != STDIO:
        return compress_to_file(
            config, registry, images, Path(output), args.force, progress,
            verify=args.verify, frame_images=frame_images, fallback=args.fallback,
            jobs=args.jobs,
        )  # fmt: skip
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bitsback-") as folder:
        target = Path(folder) / "stdout.bbz"
        result = compress_to_file(
            config, registry, images, target, False, progress,
            verify=args.verify, frame_images=frame_images, fallback=args.fallback,
            jobs=args.jobs,
        )  # fmt: skip
        sys.stdout.flush()
        sys.stdout.buffer.write(target.read_bytes())
        sys.stdout.buffer.flush()
    return attrs.evolve(result, path=STDIO)


def result_fields(result: CompressResult) -> list[str]:
    """The result line's fields: images, bytes, bits/dim with and without header, speed."""
    pixels = result.num_images * result.obs_dim
    message_bpd = 8 * (result.file_bytes - result.header_bytes) / pixels
    frames = f"{result.num_frames} frame{'s' if result.num_frames != 1 else ''}"
    rate = result.num_images / result.encode_s if result.encode_s > 0 else 0.0
    verified = "not verified" if result.verify_s is None else f"verified in {result.verify_s:.2f} s"
    return [
        f"{result.num_images:,} images",
        f"{result.file_bytes:,} bytes ({result.header_bytes:,} header, {frames})",
        f"{result.file_bpd:.4f} bits/dim",
        f"{message_bpd:.4f} without header",
        f"{rate:,.0f} img/s",
        f"encode {result.encode_s:.2f} s",
        verified,
    ]


def _remove_input(source: Path, output: Path) -> None:
    """``--rm``: delete a compressed input (a PNG folder: its PNGs, then the folder if empty)."""
    if not output.is_file():  # compress_to_file returned, so this cannot happen; be sure
        raise FileNotFoundError(f"{output} is missing: {source} was not removed")
    if source.is_dir():
        for png in sorted(source.iterdir()):
            if png.suffix.lower() == ".png" and not png.name.startswith(".") and png.is_file():
                png.unlink()
        if not any(source.iterdir()):
            source.rmdir()
    else:
        source.unlink()
