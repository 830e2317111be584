"""``bitsback bench``: measure the coders (speed, bitrates, memory) and the generic baselines.

Two sub-commands, both over the seeded binarized test images every other command sees:

* ``bench coders``: encode and decode throughput, net/total/ideal bits/dim, initial bits and
  peak memory of each coder (default: BB-ELBO, BB-IS(50), BB-CIS(50) with the paper's
  matching checkpoints), optionally the net rate of the same images in one chain, one lane;
* ``bench baselines``: gzip, bz2, lzma, PNG and WebP on the same images, then the bilevel
  codecs (JBIG when JBIG-KIT is installed, the file format's fallback codecs), each decoded
  again.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal
    from bitsback_core.pipeline.baselines import BaselineResult
    from bitsback_core.pipeline.bench import CoderBenchResult

#: Both sub-commands default to every test image (the seed's ``--num_compress 10000``).
BENCH_DEFAULTS = {"num_compress": 10000}
_MB = 1024 * 1024
#: The keys of :data:`bitsback_core.pipeline.baselines.BASELINES`, named here so that
#: ``--help`` does not import numpy.
BASELINE_NAMES = (
    "gzip",
    "bz2",
    "lzma",
    "png",
    "webp",
    "png-grid",
    "webp-grid",
    "jbig",
    "jbig-images",
    "bz2-rows",
    "context",
    "backoff",
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="benchmark the coders (speed, bitrate, memory) and the generic baselines",
        description=(
            "Benchmarks on the seeded binarized test images: 'coders' measures throughput, "
            "bitrates and memory of bits-back coders; 'baselines' compresses the same images "
            "with gzip, bz2, lzma, PNG and WebP."
        ),
    )
    # typeshed wants a class for parser_class; argparse only calls it, so a partial works.
    benches = parser.add_subparsers(  # type: ignore[call-overload]
        dest="bench",
        title="benchmarks",
        required=True,
        parser_class=functools.partial(argparse.ArgumentParser, allow_abbrev=False),
    )
    _add_coders_parser(benches)
    _add_baselines_parser(benches)
    return parser


def _add_coders_parser(benches: Any) -> None:
    parser = benches.add_parser(
        "coders",
        help="encode/decode throughput, bits/dim and peak memory of each coder",
        description=(
            "For each coder: encode the images, serialize, decode from the bytes and compare; "
            "report images/s (model and data loading excluded), net, total and ideal bits/dim, "
            "initial bits and peak memory. Without --train_config/--checkpoint each coder uses "
            "the paper's model trained with as many particles as it codes with."
        ),
    )
    parser.add_argument(
        "--coders",
        "--coder",
        dest="coders",
        nargs="+",
        default=None,
        metavar="CODER[:N]",
        help="coders by registry name or alias, optionally with particles "
        "(default: BitsBackCoder:1 ISBitsBackCoder:50 CISBitsBackCoder:50)",
    )
    parser.add_argument(
        "--num_particles",
        dest="particles",
        nargs="+",
        type=int,
        default=None,
        metavar="N",
        help="particles for every --coders name given without :N (each N is a separate run)",
    )
    parser.add_argument(
        "--checkpoint_dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the paper's train_bin_emnist_split=S_num=N models "
        "(default: $BITSBACK_PAPER_CHECKPOINTS, else ../shared/checkpoints/mcbits-paper "
        "relative to the working directory)",
    )
    parser.add_argument(
        "--compare_seed_layout",
        type=int,
        default=0,
        metavar="M",
        help="also code the first M images in the chosen layout and in one chain, one lane, "
        "and report the net bits/dim difference (0: off)",
    )
    parser.add_argument(
        "--no_ideal", action="store_true", help="skip the ideal (negative bound) bitrate"
    )
    parser.add_argument(
        "--no_tracemalloc",
        action="store_true",
        help="skip the second, untimed encode and decode that measures the numpy peak with "
        "tracemalloc (tracing makes it slower than the timed one)",
    )
    # --coders and --num_particles name each run's coder and particles; every run decodes.
    add_config_options(
        parser,
        groups=("data", "model", "coding", "output"),
        omit=("coder", "num_particles", "decode_check"),
        defaults=BENCH_DEFAULTS,
    )
    parser.set_defaults(bench_run=_run_coders)


def _add_baselines_parser(benches: Any) -> None:
    parser = benches.add_parser(
        "baselines",
        help="gzip, bz2, lzma, PNG, WebP, JBIG and the frame codecs on the same binary images",
        description=(
            "Compress the seeded binarized test images (--binarize false: thresholded at 128) "
            "with generic lossless codecs at their strongest settings and check that each "
            "decodes back exactly. gzip, bz2 and lzma code the whole set as one bit-packed "
            "stream; PNG and WebP code one file per image (sizes summed) and, as *-grid, one "
            "image tiling the whole set. JBIG (JBIG-KIT's pbmtojbg -q, when installed) codes "
            "one page tiling the images 100 to a row and, as jbig-images, one page per image. "
            "bz2-rows, context and backoff are the file format's fallback frame codecs 1, 2 and 3 on the "
            "whole set as one frame."
        ),
    )
    parser.add_argument(
        "--codecs",
        nargs="+",
        default=None,
        metavar="CODEC",
        help=f"which baselines to run (default: all of {', '.join(BASELINE_NAMES)})",
    )
    add_config_options(parser, groups=("data", "output"), defaults=BENCH_DEFAULTS)
    parser.set_defaults(bench_run=_run_baselines)


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    return int(args.bench_run(args, terminal))


# --------------------------------------------------------------------------- coders


def _run_coders(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.bench import (
        DEFAULT_SPECS,
        bench_coder,
        load_coder,
        machine_info,
        parse_coder_specs,
        spec_config,
    )
    from bitsback_core.pipeline.data import load_images
    from bitsback_core.registry import load_registry

    config = config_from_args(args, terminal.info)
    if args.coders is None and args.particles is not None:
        raise ValueError("--num_particles applies to --coders names: give --coders too")
    specs = (
        list(DEFAULT_SPECS)
        if args.coders is None
        else parse_coder_specs(args.coders, args.particles or ())
    )
    if args.compare_seed_layout < 0:
        raise ValueError(f"--compare_seed_layout must be >= 0, got {args.compare_seed_layout}")
    registry = load_registry()
    configs = [spec_config(config, spec, args.checkpoint_dir) for spec in specs]  # fail early
    images = load_images(config, registry)

    results: list[CoderBenchResult] = []
    for spec, spec_cfg in zip(specs, configs):
        terminal.info(f"{spec}: loading the model")
        loaded = load_coder(spec_cfg, registry)
        with terminal.tasks() as progress:

            def labelled(description: str, total: int, _p: Any = progress, _s: Any = spec) -> Any:
                return _p(f"{_s} {description}", total)

            results.append(
                bench_coder(
                    loaded,
                    images,
                    ideal=not args.no_ideal,
                    trace_memory=not args.no_tracemalloc,
                    compare_seed_layout=args.compare_seed_layout,
                    progress=labelled,
                )
            )
    machine = machine_info()
    for warning in sorted({w for r in results for w in r.warnings}):
        terminal.warn(warning)
    if config.json:
        terminal.json({"machine": machine, "results": [r.as_dict() for r in results]})
    else:
        _coders_table(terminal, results, machine)
    failed = [f"{r.coder}:{r.num_particles}" for r in results if not r.decode_ok]
    for r in results:
        comparison = r.layout_comparison
        if comparison is not None and not comparison.within_tolerance:
            terminal.warn(
                f"{r.coder}:{r.num_particles}: net bits/dim differs from one chain, one lane by "
                f"{comparison.difference:+.5f} (tolerance {comparison.tolerance})"
            )
    if failed:
        terminal.error(f"decoded images differ from the input for {', '.join(failed)}")
        return 1
    return 0


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / _MB:.0f}"


def _coders_table(
    terminal: Terminal, results: list[CoderBenchResult], machine: dict[str, Any]
) -> None:
    first = results[0]
    where = (
        f"{first.num_images} {first.split} test images, {first.device}, "
        f"{machine['cpu_count']} CPU(s), load average {machine['load_average_1_5_15_min']}"
    )
    labels = [f"{r.coder}({r.num_particles})" for r in results]
    speed_columns = [
        "coder(N)",
        "C x K",
        "encode img/s",
        "decode img/s",
        "ms/img enc/dec",
        "numpy MiB",
        "RSS MiB",
        "decoded",
    ]
    speed_rows = [
        [
            label,
            f"{r.chains}x{r.lanes}" + (f" ({r.chain_groups} groups)" if r.chain_groups > 1 else ""),
            f"{r.encode_images_per_s:,.0f}",
            f"{r.decode_images_per_s:,.0f}",
            f"{r.encode_ms_per_image:.2f}/{r.decode_ms_per_image:.2f}",
            _mb(r.numpy_peak_bytes),
            _mb(r.rss_peak_bytes),
            "OK" if r.decode_ok else "FAILED",
        ]
        for label, r in zip(labels, results)
    ]
    if any(r.gpu_peak_bytes is not None for r in results):
        speed_columns.append("GPU MiB")
        for row, r in zip(speed_rows, results):
            row.append(_mb(r.gpu_peak_bytes))
    terminal.table(f"Speed and peak memory: {where}", speed_columns, speed_rows)
    rate_rows = [
        (
            label,
            f"{r.chains}x{r.lanes}",
            f"{r.net_bpd:.4f}",
            f"{r.total_bpd:.4f}",
            "-" if r.ideal_bpd is None else f"{r.ideal_bpd:.4f}",
            "-" if r.ideal_bpd is None else f"{r.net_bpd - r.ideal_bpd:+.4f}",
            f"{r.message_bpd:.4f}",
            f"{r.initial_bits / r.num_images:,.1f}",
        )
        for label, r in zip(labels, results)
    ]
    terminal.table(
        "Bits/dim (net: the data's code length; total: heads and words, initial bits "
        "included; message: the serialized bytes, lane table included)",
        ["coder(N)", "C x K", "net", "total", "ideal", "net-ideal", "message", "initial bits/img"],
        rate_rows,
    )
    scope = {"block": "reset before each coder", "process": "since the process started"}
    terminal.result(
        "Times exclude model and data loading. numpy MiB: tracemalloc peak of a second, untimed "
        "encode + decode; "
        f"RSS MiB: getrusage ru_maxrss ({scope.get(first.rss_scope, first.rss_scope)}; model, "
        "torch and images included)."
    )
    for label, r in zip(labels, results):
        c = r.layout_comparison
        if c is not None:
            verdict = "within" if c.within_tolerance else "OUTSIDE"
            terminal.result(
                f"{label}, first {c.num_images} images: net {c.net_bpd:.5f} bits/dim in "
                f"{c.chains}x{c.lanes}, {c.seed_layout_net_bpd:.5f} in 1x1, difference "
                f"{c.difference:+.5f} ({verdict} {c.tolerance})"
            )


# --------------------------------------------------------------------------- baselines


def _run_baselines(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.baselines import run_baselines, unavailable_baselines
    from bitsback_core.pipeline.data import load_images
    from bitsback_core.registry import load_registry

    config = config_from_args(args, terminal.info)
    images = load_images(config, load_registry())
    unavailable = unavailable_baselines(args.codecs)
    results = run_baselines(images, args.codecs)
    binarization = "binarized" if config.binarize else "thresholded"
    for name, reason in unavailable.items():
        terminal.warn(f"baseline {name} is unavailable: {reason}")
    if config.json:
        terminal.json(
            {
                "split": config.split,
                "dataset": config.dataset,
                "binarization": "dynamic" if config.binarize else "threshold 128",
                "num_images": int(images.shape[0]),
                "results": [r.as_dict() for r in results],
                "unavailable": unavailable,
            }
        )
    elif results:
        _baselines_table(terminal, results, config.dataset, config.split, binarization)
    broken = [r.codec for r in results if not r.lossless]
    if broken:
        terminal.error(f"baseline(s) did not decode losslessly: {', '.join(broken)}")
        return 1
    return 0


def _baselines_table(
    terminal: Terminal,
    results: list[BaselineResult],
    dataset: str,
    split: str,
    binarization: str = "binarized",
) -> None:
    first = results[0]
    title = f"Generic codecs on {first.num_images} {binarization} {dataset}/{split} test images"
    columns = [
        "codec",
        "settings",
        "coded as",
        "bits/dim",
        "bits/img",
        "bytes",
        "enc s",
        "dec s",
        "lossless",
    ]
    rows = [
        (
            r.codec,
            r.settings,
            r.scope,
            f"{r.bpd:.4f}",
            f"{r.bits_per_image:.1f}",
            f"{r.compressed_bytes:,}",
            f"{r.encode_s:.2f}",
            f"{r.decode_s:.2f}",
            "yes" if r.lossless else "NO",
        )
        for r in results
    ]
    terminal.table(title, columns, rows)
    terminal.result(
        "coded as: 'set, 1 stream' = all images' bits packed 8 per byte (np.packbits) in one "
        "stream (bz2-rows: each row padded to a byte; context, backoff: our context-model coders); "
        "'1 file/image' = one file per image, sizes summed; 'set, 1 grid image' = one image "
        "tiling all images; 'set, 1 page (100/row)' = one JBIG page, 100 images to a row (the "
        "fair JBIG figure). bits/dim counts every byte (headers included) over all pixels."
    )
