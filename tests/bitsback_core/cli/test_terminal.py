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


# --- plain progress lines and 80-column results -------------------------------------------


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_lines_when_stderr_is_not_a_terminal() -> None:
    clock = _Clock()
    terminal, out, err = _terminal(clock=clock)
    with terminal.tasks() as progress:
        advance = progress("encode", 10_000)
        for _ in range(8):  # 500 images per second, one report every 5 s
            clock.now += 1.0
            advance(500)
        fast = progress("verify", 10)  # a phase shorter than the interval prints nothing
        fast(10)
    lines = err.getvalue().splitlines()
    assert lines == [
        "encode: 2,500/10,000 images, 500 img/s",
        "encode: 4,000/10,000 images, 500 img/s",
    ]
    assert out.getvalue() == ""


def test_plain_progress_of_a_bar_and_quiet() -> None:
    clock = _Clock()
    terminal, _, err = _terminal(clock=clock, plain_interval=1.0)
    with terminal.progress("training", total=3, unit="epochs") as bar:
        for _ in range(3):
            clock.now += 2.0
            bar.advance()
    assert err.getvalue().splitlines()[0] == "training: 1/3 epochs, 0 epochs/s"
    assert err.getvalue().splitlines()[-1] == "training: 3/3 epochs, 0 epochs/s"
    quiet, _, quiet_err = _terminal(clock=clock, plain_interval=0.0, quiet=True)
    with quiet.tasks() as progress:
        progress("encode", 2)(2)
    assert quiet_err.getvalue() == ""


def test_result_fields_fit_80_columns() -> None:
    from bitsback_core.cli.terminal import wrap_fields

    fields = ["1,000,000 images", "24,000,000 bytes (1,648 header, 100 frames)", "0.2449 bits/dim"]
    short = wrap_fields("x.bbz", fields)
    assert short[0].startswith("x.bbz: 1,000,000 images, 24,000,000 bytes")
    deep = "/" + "/".join(["a-rather-long-folder-name"] * 6) + "/images.npy.bbz"
    lines = wrap_fields(deep, fields)
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0].startswith("...") and lines[0].endswith("/images.npy.bbz: 1,000,000 images,")
    assert " ".join(" ".join(lines).split()).endswith(", ".join(fields[1:]))
