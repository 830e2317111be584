"""The library behind the commands: compose components from a config and run experiments."""

from bitsback_core.pipeline.components import Components, build_coder, build_components
from bitsback_core.pipeline.run import RunResult, run_compression

__all__ = ["Components", "RunResult", "build_coder", "build_components", "run_compression"]
