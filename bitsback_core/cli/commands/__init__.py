"""One module per ``bitsback`` command.

Contract (see :mod:`bitsback_core.cli.main`)::

    def add_parser(subparsers) -> argparse.ArgumentParser:
        parser = subparsers.add_parser("name", help="one line for `bitsback --help`")
        ...                                   # own arguments, then maybe
        add_config_options(parser)            # from bitsback_core.cli.options
        return parser

    def run(args: argparse.Namespace, terminal: Terminal) -> int:
        ...                                   # heavy imports here, not at module level

Register the module by adding its name to ``COMMANDS`` in :mod:`bitsback_core.cli.main`.
"""

__all__: list[str] = []
