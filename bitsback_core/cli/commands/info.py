"""``bitsback info``: what a .bbz file holds, from its header alone (no decoding, no model)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal
    from bitsback_core.pipeline.file_info import FileInfo

#: Up to this many frames are listed one by one; more are summarized.
MAX_LISTED_FRAMES = 10


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "info",
        help="show what a .bbz file holds (header, frames, size) without decoding it",
        description=(
            "Print a .bbz file's header (coder, arithmetic, precisions, layout, seed, model), "
            "its images and frames and its size in bits/dim. The file's checksums are checked; "
            "nothing is decoded and no model is loaded."
        ),
    )
    parser.add_argument("input", type=Path, help="compressed file")
    parser.add_argument(
        "--json",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        metavar="BOOL",
        help="print a JSON object instead",
    )
    return parser


def _frames_lines(info: FileInfo) -> list[str]:
    sizes = info.frame_bytes
    head = f"frames:      {info.num_frames} of up to {info.frame_images:,} images"
    if len(sizes) <= MAX_LISTED_FRAMES:
        return [head, f"frame bytes: {', '.join(f'{s:,}' for s in sizes)}", _codecs_line(info)]
    return [
        head,
        f"frame bytes: min {min(sizes):,}, max {max(sizes):,}, total {sum(sizes):,}",
        _codecs_line(info),
    ]


def _codecs_line(info: FileInfo) -> str:
    """Each frame's codec in order when that fits the line, else how many frames each coded."""
    from bitsback_core.compression.container import FRAME_CODECS

    listed = "codecs:      " + ", ".join(FRAME_CODECS[c] for c in info.frame_codecs)
    if len(listed) <= WIDTH:
        return listed
    return (
        "codecs:      "
        + ", ".join(f"{name} {count:,}" for name, count in info.codec_counts.items())
        + " frames"
    )


#: Width of the label column ("file:        ") and of the whole report.
LABEL_WIDTH = 13
WIDTH = 80


def _fit(text: str, room: int = WIDTH - LABEL_WIDTH) -> str:
    """Keep the end of a long text (a path's file name) and mark the cut: lines stay in 80 columns."""
    return text if len(text) <= room else "..." + text[len(text) - room + 3 :]


def lines(info: FileInfo) -> list[str]:
    """The text report, each line under 80 columns."""
    p = info.precisions
    it = info.iterative
    iterative = "no" if it is None else f"{it['steps']} steps, lr {it['lr']:g}"
    shape = " x ".join(str(d) for d in info.image_shape)
    return [
        f"file:        {_fit(str(info.path))}",
        f"format:      {info.format_version}",
        f"coder:       {info.coder}, {info.num_particles} particles",
        f"arithmetic:  {info.arithmetic}"
        + ("" if info.portable_format is None else f" (model format {info.portable_format})"),
        f"precisions:  lprec {p['lprec']}, bprec {p['bprec']}, "
        f"log_num_bucket {p['log_num_bucket']}",
        f"             prior {p['prior_mprec']}, proposal {p['prop_mprec']}, "
        f"conditional {p['cond_mprec']}",
        f"layout:      {info.chains} chains x {info.lanes} lanes",
        f"seed:        {info.seed}",
        f"proposal:    {info.proposal}, discretizer {info.discretizer}",
        f"iterative:   {iterative}",
        "model:       "
        + _fit(f"{info.model_name or '(unnamed)'} ({info.model}, {info.latent_dim} latents)"),
        f"identity:    {info.identity} (128 bits of the model's sha256)",
        f"images:      {info.num_images:,} of shape {shape}, dtype {info.dtype}",
        *_frames_lines(info),
        f"header:      {info.header_bytes:,} bytes (header, checksums, frame lengths, codecs)",
        f"size:        {info.file_bytes:,} bytes, {info.file_bpd:.4f} bits/dim",
    ]


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.file_info import describe_file

    info = describe_file(args.input)
    if args.json:
        terminal.json(info.as_dict())
        return 0
    for line in lines(info):
        terminal.result(line)
    return 0
