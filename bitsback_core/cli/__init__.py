"""The ``bitsback`` command line (a thin shell; the library never imports it).

Entry point: :func:`bitsback_core.cli.main.main`. Commands live one per module in
:mod:`bitsback_core.cli.commands`; all output goes through
:class:`bitsback_core.cli.terminal.Terminal`; config-taking commands use
:mod:`bitsback_core.cli.options`.
"""

__all__: list[str] = []
