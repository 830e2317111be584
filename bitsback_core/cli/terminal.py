"""All CLI output goes through one :class:`Terminal`.

Results (tables, JSON, result lines) go to stdout; messages, warnings, errors and progress
go to stderr, so ``bitsback ... --json | jq`` sees nothing but the JSON. Message text is
printed verbatim (no rich markup), because it often contains user data such as paths or
``[1, 2]``-style lists.

Progress is a bar when stderr is a terminal. When it is not (a log file, CI, a pipe), a
bar would show nothing, so a plain line is printed every ``plain_interval`` seconds instead
(``encode: 4,000/10,000 images, 1,234 img/s``), and a last one when a phase that printed
any ends. Fast phases stay silent either way.
"""

from __future__ import annotations

import json as _json
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

__all__ = [
    "PLAIN_INTERVAL_S",
    "WIDTH",
    "PlainProgress",
    "ProgressHandle",
    "Terminal",
    "fit",
    "wrap_fields",
]

#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL_S = 5.0
#: Columns every line of normal output fits in.
WIDTH = 80


def fit(text: str, room: int) -> str:
    """Keep the end of a long ``text`` (a path's file name) and mark the cut with ``...``."""
    if len(text) <= room:
        return text
    return "..." + text[len(text) - max(room - 3, 1) :]


def wrap_fields(
    head: str, fields: Sequence[str], width: int = WIDTH, indent: str = "  "
) -> list[str]:
    """``head: a, b, c`` in lines of at most ``width`` columns, never splitting a field.

    ``head`` (usually a path) is shortened with :func:`fit` to leave room for the first
    field; a field that does not fit on the current line starts the next one, indented.
    """
    room = width - 1
    if fields and room - len(fields[0]) - 2 >= 30:  # keep "path: first," on one line
        room -= len(fields[0]) + 2
    lines = [fit(head, room) + ":"]
    for index, field in enumerate(fields):
        piece = field + ("," if index < len(fields) - 1 else "")
        if len(lines[-1]) + 1 + len(piece) <= width:
            lines[-1] += " " + piece
        else:
            lines.append(fit(indent + piece, width))
    return lines


class PlainProgress:
    """Progress as plain lines: one every ``interval`` seconds per phase, and a last one.

    Called as a :class:`~bitsback_core.pipeline.progress.ProgressFactory`:
    ``progress(description, total)`` starts a phase (ending the one before) and returns
    its ``advance(n)``. Lines read ``encode: 4,000/10,000 images, 1,234 img/s`` (the rate
    over the phase so far).
    """

    def __init__(
        self,
        write: Callable[[str], None],
        interval: float = PLAIN_INTERVAL_S,
        unit: str = "images",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write, self._interval, self._unit, self._clock = write, interval, unit, clock
        self._close: Callable[[], None] | None = None

    def __call__(self, description: str, total: float | None) -> Callable[[float], None]:
        self.finish()
        started = last = self._clock()
        done = 0.0
        printed = False
        short = "img" if self._unit == "images" else self._unit

        def line(now: float) -> str:
            count = f"{done:,.0f}" + (f"/{total:,.0f}" if total else "")
            rate = done / (now - started) if now > started else 0.0
            return fit(f"{description}: {count} {self._unit}, {rate:,.0f} {short}/s", WIDTH)

        def advance(n: float = 1) -> None:
            nonlocal done, last, printed
            done += n
            now = self._clock()
            if now - last >= self._interval:
                self._write(line(now))
                last, printed = now, True

        def close() -> None:
            if printed:
                self._write(line(self._clock()))

        self._close = close
        return advance

    def finish(self) -> None:
        """End the open phase: its last line, if it printed any."""
        close, self._close = self._close, None
        if close is not None:
            close()


class ProgressHandle:
    """What ``with terminal.progress(...) as bar`` yields: advance it, relabel it."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: float = 1) -> None:
        self._progress.advance(self._task, steps)

    def set_description(self, description: str) -> None:
        self._progress.update(self._task, description=description)


class _PlainHandle:
    """:class:`ProgressHandle`'s interface over :class:`PlainProgress` lines."""

    def __init__(self, plain: PlainProgress, description: str, total: float | None) -> None:
        self._plain, self._total = plain, total
        self._advance = plain(description, total)

    def advance(self, steps: float = 1) -> None:
        self._advance(steps)

    def set_description(self, description: str) -> None:
        """Starts a new phase under the new label."""
        self._advance = self._plain(description, self._total)


class Terminal:
    """Two rich consoles: ``out`` (stdout, results) and ``err`` (stderr, everything else).

    ``stdout``/``stderr`` default to the *current* ``sys.stdout``/``sys.stderr`` at each
    write (so pytest's capture works); ``width`` fixes the table width (tests, pipes).
    ``plain_interval`` and ``clock`` set the plain progress lines (tests shorten them).
    """

    def __init__(
        self,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        width: int | None = None,
        quiet: bool = False,
        plain_interval: float = PLAIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = Console(file=stdout, width=width, highlight=False)
        self.err = Console(file=stderr, stderr=stderr is None, width=width, highlight=False)
        self.quiet = quiet
        self.plain_interval = plain_interval
        self._clock = clock

    # ----- stderr -----

    def info(self, message: str) -> None:
        """A progress or status message (suppressed when ``quiet``)."""
        if not self.quiet:
            self.err.print(Text(message), soft_wrap=True)

    def warn(self, message: str) -> None:
        self.err.print(Text.assemble(("warning: ", "bold yellow"), message), soft_wrap=True)

    def error(self, message: str) -> None:
        """One red line; the CLI's way to report a :class:`~bitsback_core.errors.BitsbackError`."""
        self.err.print(Text.assemble(("error: ", "bold red"), (message, "red")), soft_wrap=True)

    def exception(self, exc: BaseException) -> None:
        """The full traceback of ``exc`` (only shown with ``BITSBACK_DEBUG=1``)."""
        self.err.file.write("".join(traceback.format_exception(exc)))

    def _progress_display(self) -> Progress:
        """The one progress bar style, on stderr; silent when not a terminal or quiet."""
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        disable = self.quiet or not self.err.is_terminal
        return Progress(*columns, console=self.err, transient=True, disable=disable)

    def _plain(self, unit: str) -> PlainProgress | None:
        """Plain periodic lines when stderr is not a terminal; None for a bar (or quiet)."""
        if self.quiet or self.err.is_terminal:
            return None
        return PlainProgress(self.info, self.plain_interval, unit, self._clock)

    @contextmanager
    def progress(
        self, description: str, total: float | None = None, unit: str = "steps"
    ) -> Iterator[ProgressHandle | _PlainHandle]:
        """A progress bar on stderr; plain periodic lines when stderr is not a terminal."""
        plain = self._plain(unit)
        if plain is not None:
            try:
                yield _PlainHandle(plain, description, total)
            finally:
                plain.finish()
            return
        with self._progress_display() as progress:
            yield ProgressHandle(progress, progress.add_task(description, total=total))

    @contextmanager
    def tasks(self, unit: str = "images") -> Iterator[Any]:
        """One progress display for a library call that reports several phases.

        Yields a :class:`~bitsback_core.pipeline.progress.ProgressFactory`: the library
        calls it once per phase (``"encode"``, ``"decode"``...) and advances what it returns.
        """
        plain = self._plain(unit)
        if plain is not None:
            try:
                yield plain
            finally:
                plain.finish()
            return
        with self._progress_display() as progress:

            def factory(description: str, total: int) -> Any:
                task = progress.add_task(description, total=total)
                return lambda n: progress.advance(task, n)

            yield factory

    # ----- stdout -----

    def result(self, message: str) -> None:
        """A line of result text on stdout."""
        self.out.print(Text(message), soft_wrap=True)

    def result_fields(self, head: str, fields: Sequence[str], *, to_stderr: bool = False) -> None:
        """``head: field, field, ...`` in lines of at most 80 columns (:func:`wrap_fields`).

        ``to_stderr``: for when stdout carries data (``-o -``).
        """
        for line in wrap_fields(head, fields):
            if to_stderr:
                self.info(line)
            else:
                self.result(line)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table on stdout; cells are shown with ``str``."""
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")  # wrap, never drop text
        for row in rows:
            if len(row) != len(columns):
                raise ValueError(f"table row has {len(row)} cells, expected {len(columns)}")
            table.add_row(*(Text(str(cell)) for cell in row))
        self.out.print(table)

    def json(self, obj: Any) -> None:
        """``obj`` as plain JSON on stdout (no colour, nothing else)."""
        self.out.file.write(_json.dumps(obj, indent=2, default=_jsonable) + "\n")
        self.out.file.flush()


def _jsonable(value: Any) -> Any:
    """Serialize paths and numpy scalars/arrays, the non-JSON values results contain."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
