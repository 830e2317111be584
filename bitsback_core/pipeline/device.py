"""Choosing the torch device from the seed's ``--gpu`` index."""

from __future__ import annotations

__all__ = ["resolve_device"]


def resolve_device(gpu: int) -> tuple[str, str | None]:
    """Return ``(device, warning)``: ``cuda:N`` when asked for and present, else ``cpu``.

    The seed's configs say ``gpu: 0``; they must still run on a machine without CUDA, so
    a missing GPU falls back to the CPU with a warning instead of failing.
    """
    if gpu < 0:
        return "cpu", None
    import torch

    if not torch.cuda.is_available():
        return "cpu", f"gpu={gpu} requested but CUDA is not available: running on the CPU"
    if gpu >= torch.cuda.device_count():
        raise ValueError(
            f"gpu={gpu} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
        )
    return f"cuda:{gpu}", None
