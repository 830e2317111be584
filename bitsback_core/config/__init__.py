"""Run configuration (:class:`Config`): defaults < config file < command line."""

from bitsback_core.config.config import (
    GROUPS,
    OPTION_GROUPS,
    Config,
    config_keys,
    describe_key,
    file_keys,
    group_keys,
    key_group,
)

__all__ = [
    "GROUPS",
    "OPTION_GROUPS",
    "Config",
    "config_keys",
    "describe_key",
    "file_keys",
    "group_keys",
    "key_group",
]
