"""bitsback: lossless compression with bits-back coding on latent-variable models."""

__version__ = "0.1.0"
__all__ = ["__version__"]
