"""``resolve_device``: the seed's ``gpu: 0`` must still run on a CPU-only machine."""

from __future__ import annotations

import pytest
import torch

from bitsback_core.pipeline.device import resolve_device


def test_negative_gpu_is_the_cpu_without_a_warning() -> None:
    assert resolve_device(-1) == ("cpu", None)


def test_missing_cuda_falls_back_to_the_cpu_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    device, warning = resolve_device(0)
    assert device == "cpu"
    assert warning is not None and "gpu=0" in warning and "CPU" in warning


def test_present_gpu_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device(1) == ("cuda:1", None)


def test_out_of_range_gpu_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="gpu=3.*only 1 CUDA device"):
        resolve_device(3)
