"""``bitsback run``: the seed's compression experiment (ideal, net and total bitrates)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args, given_keys

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal

#: The config groups ``run`` reads (bitsback_core.config.GROUPS): no training keys.
RUN_GROUPS = ("data", "model", "coding", "output")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="compress test images with a coder and report ideal, net and total bitrates",
        description=(
            "Evaluate the ideal bitrate (negative ELBO / IWAE-N bound), compress the seeded "
            "test images with --coder, report net and total bits (with initial bits), then "
            "decode from the serialized message and check it (--decode_check). Accepts the "
            "seed's configs/compress_bin_emnist.yml unchanged. With no --num_particles, IS and "
            "CIS code with 50 particles and, with no model named, the installed model trained "
            "for it (`bitsback models`); with no data directory, the packaged EMNIST sample."
        ),
    )
    add_config_options(parser, groups=RUN_GROUPS)
    return parser


def _groups(groups: int) -> str:
    """Title text for chain groups coded on threads (nothing for one group)."""
    return f" in {groups} thread groups" if groups > 1 else ""


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.run import run_compression, run_defaults
    from bitsback_core.registry import load_registry

    config = config_from_args(args, terminal.info)
    registry = load_registry()
    config, notes = run_defaults(config, registry, given_keys(args))
    with terminal.tasks() as progress:
        result = run_compression(config, registry, progress, notes=notes, report=terminal.info)
    for warning in result.warnings:
        terminal.warn(warning)
    if config.json:
        terminal.json(result.as_dict())
    else:
        dims = result.num_compress * result.obs_dim
        rows = [
            (
                "ideal (neg. bound)",
                f"{result.ideal_bpd:.4f}",
                f"{result.ideal_bpd * result.obs_dim:.2f}",
            ),
            ("net", f"{result.net_bpd:.4f}", f"{result.net_bits_per_image:.2f}"),
            (
                "total (with initial bits)",
                f"{result.total_bpd:.4f}",
                f"{result.total_bits_per_image:.2f}",
            ),
            (
                "initial bits",
                f"{result.initial_bits / dims:.4f}",
                f"{result.initial_bits:.0f} in all",
            ),
        ]
        title = (
            f"{result.coder} N={result.num_particles} on {result.num_compress} {result.dataset}/{result.split} "
            f"images ({result.chains} chain(s) x {result.lanes} lane(s)"
            f"{_groups(result.chain_groups)}, {result.device}, "
            f"{result.arithmetic} arithmetic)"
        )
        terminal.table(title, ["bitrate", "bits/dim", "bits/image"], rows)
        decode = (
            "not checked" if result.decode_ok is None else ("OK" if result.decode_ok else "FAILED")
        )
        decode_s = "" if result.decode_s is None else f", decode {result.decode_s:.2f} s"
        terminal.result(f"model: {result.model}")
        if result.model_identity:
            terminal.result(f"portable model sha256: {result.model_identity[:16]}...")
        terminal.result(f"encode {result.encode_s:.2f} s{decode_s}; decode check: {decode}")
    if result.decode_ok is False:
        terminal.error("decoded images differ from the input")
        return 1
    return 0
