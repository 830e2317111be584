"""All CLI output goes through one :class:`Terminal`.

Results (tables, JSON, result lines) go to stdout; messages, warnings, errors and progress
go to stderr, so ``bitsback ... --json | jq`` sees nothing but the JSON. Message text is
printed verbatim (no rich markup), because it often contains user data such as paths or
``[1, 2]``-style lists.
"""

from __future__ import annotations

import json as _json
import os
import traceback
from collections.abc import Iterator, Sequence
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

__all__ = ["ProgressHandle", "Terminal"]


class ProgressHandle:
    """What ``with terminal.progress(...) as bar`` yields: advance it, relabel it."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: float = 1) -> None:
        self._progress.advance(self._task, steps)

    def set_description(self, description: str) -> None:
        self._progress.update(self._task, description=description)


class Terminal:
    """Two rich consoles: ``out`` (stdout, results) and ``err`` (stderr, everything else).

    ``stdout``/``stderr`` default to the *current* ``sys.stdout``/``sys.stderr`` at each
    write (so pytest's capture works); ``width`` fixes the table width (tests, pipes).
    """

    def __init__(
        self,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        width: int | None = None,
        quiet: bool = False,
    ) -> None:
        self.out = Console(file=stdout, width=width, highlight=False)
        self.err = Console(file=stderr, stderr=stderr is None, width=width, highlight=False)
        self.quiet = quiet

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
        """The one progress display style, on stderr; silent when not a terminal or quiet."""
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        disable = self.quiet or not self.err.is_terminal
        return Progress(*columns, console=self.err, transient=True, disable=disable)

    @contextmanager
    def progress(self, description: str, total: float | None = None) -> Iterator[ProgressHandle]:
        """A progress bar on stderr; silent when stderr is not a terminal or ``quiet``."""
        with self._progress_display() as progress:
            yield ProgressHandle(progress, progress.add_task(description, total=total))

    @contextmanager
    def tasks(self) -> Iterator[Any]:
        """One progress display for a library call that reports several phases.

        Yields a :class:`~bitsback_core.pipeline.progress.ProgressFactory`: the library
        calls it once per phase (``"encode"``, ``"decode"``...) and advances what it returns.
        """
        with self._progress_display() as progress:

            def factory(description: str, total: int) -> Any:
                task = progress.add_task(description, total=total)
                return lambda n: progress.advance(task, n)

            yield factory

    # ----- stdout -----

    def result(self, message: str) -> None:
        """A line of result text on stdout."""
        self.out.print(Text(message), soft_wrap=True)

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
