"""Run configuration (:class:`Config`): defaults < config file < command line."""

from bitsback_core.config.config import Config, config_keys, describe_key

__all__ = ["Config", "config_keys", "describe_key"]
