"""Checks that run before any coding, so a mistake costs milliseconds, not an encode.

Everything ``compress`` and ``decompress`` can know before they start is checked here:
where each output goes and whether it may be written there, option ranges, and the
device. A problem is one exception with a one-line message (the CLI prints it and exits
with code 2); nothing has been written at that point.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bitsback_core.errors import ConfigError

__all__ = [
    "BBZ_SUFFIX",
    "MAX_SEED",
    "STDIO",
    "check_distinct",
    "check_gpu",
    "check_output",
    "check_seed",
    "check_writable_folder",
    "compressed_name",
    "decompressed_name",
    "route_outputs",
]

#: The suffix ``compress`` adds and ``decompress`` strips.
BBZ_SUFFIX = ".bbz"
#: ``-`` as an input means stdin, as an output stdout (never a file named ``-``).
STDIO = "-"
#: Seeds are stored as unsigned 64-bit numbers.
MAX_SEED = 2**64 - 1


def compressed_name(path: Path) -> Path:
    """gzip-style output name: ``x.npy`` -> ``x.npy.bbz``, folder ``digits/`` -> ``digits.bbz``."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):  # "." or "digits/.": name the folder itself
        path = path.resolve()
    return path.with_name(path.name + BBZ_SUFFIX)


def decompressed_name(path: Path) -> Path:
    """``x.npy.bbz`` -> ``x.npy``; a name not ending in ``.bbz`` has no default (refused)."""
    path = Path(path)
    if not path.name.endswith(BBZ_SUFFIX) or path.name == BBZ_SUFFIX:
        raise ConfigError(
            f"{path} does not end in {BBZ_SUFFIX}: name the output with -o (or rename the file)"
        )
    return path.with_name(path.name[: -len(BBZ_SUFFIX)])


def route_outputs(
    inputs: Sequence[str],
    output: str | None,
    stdout: bool,
    default_name: Callable[[Path], Path],
    without_o: str,
) -> list[str]:
    """Each input's output (``-``: stdout) from ``-o``/``-c`` alone; refuses conflicts.

    The rules compress and decompress share: ``-c`` and ``-o PATH`` are one output too
    many, stdin is read once, ``-o`` and stdout take a single input, and stdin goes to
    stdout unless ``-o`` says otherwise; every other input gets ``default_name(input)``.
    ``without_o`` ends the message for several inputs with ``-o`` (what happens instead).
    """
    if stdout and output not in (None, STDIO):
        raise ConfigError("-c/--stdout and -o PATH name two outputs: give one")
    to_stdout = stdout or output == STDIO
    if list(inputs).count(STDIO) > 1:
        raise ConfigError("stdin ('-') can be read only once")
    if len(inputs) > 1 and output is not None:
        raise ConfigError(f"-o names one output, but there are {len(inputs)} inputs: {without_o}")
    if len(inputs) > 1 and to_stdout:
        raise ConfigError(f"only one input can be written to stdout, not {len(inputs)}")
    outputs = []
    for source in inputs:
        if to_stdout or (source == STDIO and output is None):
            outputs.append(STDIO)
        elif output is not None:
            outputs.append(output)
        else:
            outputs.append(str(default_name(Path(source))))
    return outputs


def check_seed(seed: int) -> int:
    """``seed`` if a file can record it (0 to 2^64 - 1)."""
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed {seed} is outside 0 to 2^64 - 1 ({MAX_SEED})")
    return seed


def check_gpu(gpu: int) -> None:
    """Refuse ``--gpu N`` (N >= 0) where CUDA or device N is missing: no silent CPU run."""
    if gpu < 0:
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"--gpu {gpu}: CUDA is not available here (use --gpu -1 for the CPU)")
    count = torch.cuda.device_count()
    if gpu >= count:
        raise ConfigError(f"--gpu {gpu}: this machine has {count} CUDA device(s), 0 to {count - 1}")


def check_writable_folder(folder: Path) -> None:
    """The folder exists and a file can be created in it (tried, so read-only mounts count)."""
    if not folder.exists():
        raise FileNotFoundError(f"directory {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".bitsback-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PermissionError(f"cannot write in {folder}: {reason.lower()}") from None


def check_output(path: Path, overwrite: bool, *, folder: bool = False) -> None:
    """``path`` may be written: its folder is writable, it is new (or ``overwrite``).

    ``folder``: the output is a folder (of PNGs), which may replace a folder; a file
    output never replaces a folder, even with ``overwrite``.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{path} already exists (use --force to overwrite)")
        if path.is_dir() and not folder:
            raise IsADirectoryError(f"{path} is a directory; not replacing it with a file")
    check_writable_folder(path.parent if str(path.parent) else Path("."))


def check_distinct(inputs: Sequence[Path | str], outputs: Sequence[Path | str]) -> None:
    """No two inputs write the same output, and no output is one of the inputs."""
    seen: dict[str, Path | str] = {}
    sources = {_key(p) for p in inputs if str(p) != STDIO}
    for source, output in zip(inputs, outputs):
        if str(output) == STDIO:
            continue
        key = _key(output)
        if key in sources:
            raise ConfigError(f"{output} is both an input and an output")
        if key in seen:
            raise ConfigError(f"{seen[key]} and {source} would both be written to {output}")
        seen[key] = source


def _key(path: Path | str) -> str:
    return os.path.normcase(os.path.abspath(os.fspath(path)))
