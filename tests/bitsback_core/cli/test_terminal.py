"""Terminal: results on stdout, everything else on stderr, text printed verbatim."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.cli.terminal import Terminal


def _terminal(**kwargs: object) -> tuple[Terminal, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Terminal(stdout=out, stderr=err, width=120, **kwargs), out, err  # type: ignore[arg-type]


def test_json_is_plain_and_alone_on_stdout() -> None:
    terminal, out, err = _terminal()
    terminal.info("loading [bold]plugins[/bold]")
    terminal.json({"path": Path("a/b"), "bits": np.float64(0.25), "arr": np.arange(3)})
    assert json.loads(out.getvalue()) == {"path": "a/b", "bits": 0.25, "arr": [0, 1, 2]}
    assert err.getvalue() == "loading [bold]plugins[/bold]\n"  # markup is not interpreted


def test_json_rejects_unserializable_values() -> None:
    terminal, _, _ = _terminal()
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        terminal.json({"x": object()})


def test_messages_go_to_stderr() -> None:
    terminal, out, err = _terminal()
    terminal.warn("careful")
    terminal.error("it broke: [1, 2]")
    assert out.getvalue() == ""
    assert err.getvalue() == "warning: careful\nerror: it broke: [1, 2]\n"


def test_long_errors_stay_on_one_line() -> None:
    terminal, _, err = _terminal()
    terminal.error("x" * 300)
    assert err.getvalue() == "error: " + "x" * 300 + "\n"


def test_quiet_silences_info_but_not_errors() -> None:
    terminal, _, err = _terminal(quiet=True)
    terminal.info("chatter")
    terminal.error("real")
    assert err.getvalue() == "error: real\n"


def test_table_and_result_on_stdout() -> None:
    terminal, out, err = _terminal()
    terminal.table("Rates", ["method", "bits/dim"], [("BB-ELBO", 0.2382), ("BB-IS (50)", None)])
    terminal.result("done")
    text = out.getvalue()
    for cell in ("Rates", "method", "bits/dim", "BB-ELBO", "0.2382", "BB-IS (50)", "None", "done"):
        assert cell in text
    assert err.getvalue() == ""
    with pytest.raises(ValueError, match="table row has 1 cells, expected 2"):
        terminal.table("t", ["a", "b"], [("only",)])


def test_progress_counts_and_stays_off_stdout() -> None:
    terminal, out, err = _terminal()
    with terminal.progress("compressing", total=3) as bar:
        for _ in range(3):
            bar.advance()
        bar.set_description("compressed")
    assert out.getvalue() == "" and err.getvalue() == ""  # not a terminal: no bar drawn


def test_exception_prints_traceback() -> None:
    terminal, _, err = _terminal()
    try:
        raise ValueError("inner")
    except ValueError as exc:
        terminal.exception(exc)
    assert "Traceback" in err.getvalue() and "ValueError: inner" in err.getvalue()
