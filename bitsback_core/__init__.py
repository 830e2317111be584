"""bitsback: lossless compression with bits-back coding on latent-variable models.

Importing the package loads no plugin; :func:`load_registry` does, on demand.
"""

__version__ = "0.1.0"

from bitsback_core.threads import bound_openmp_spin  # noqa: E402

bound_openmp_spin()  # before torch or numba start a thread pool (see bitsback_core/threads.py)

from bitsback_core.kernel_cache import configure_kernel_cache  # noqa: E402

configure_kernel_cache()  # before numba is imported (see bitsback_core/kernel_cache.py)

from bitsback_core.config import Config  # noqa: E402  (after __version__, which they read)
from bitsback_core.errors import BitsbackError  # noqa: E402
from bitsback_core.registry import Registry, hookimpl, load_registry  # noqa: E402

__all__ = ["BitsbackError", "Config", "Registry", "__version__", "hookimpl", "load_registry"]
