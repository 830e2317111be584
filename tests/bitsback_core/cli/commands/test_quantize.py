"""``bitsback quantize``: a float checkpoint's portable model, its identity and its integers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bitsback_core.cli.main import main

CHECKPOINT = (
    Path(__file__).resolve().parents[4] / "checkpoints" / "bin_emnist_split=mnist_elbo" / "model.pt"
)


def _quantize(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code = main(["quantize", "--checkpoint", str(CHECKPOINT), "--json", "true", *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_identity_is_the_portable_models_and_stable(capsys: pytest.CaptureFixture[str]) -> None:
    from bitsback_vae.model import BinaryVAE

    first = _quantize(capsys)
    second = _quantize(capsys)
    assert first["identity"] == second["identity"]
    model = BinaryVAE.from_config({"latent_dim": 50}, CHECKPOINT).portable()
    assert first["identity"] == model.identity()
    assert set(first["layers"]) == {
        "enc_fc1",
        "enc_fc2",
        "enc_fc31",
        "enc_fc32",
        "dec_fc1",
        "dec_fc2",
        "dec_fc3",
    }
    assert 0 < first["max_mean_error"] < 1e-3 and 0 <= first["max_log_std_error"] < 1e-3
    assert first["portable_format"] == 2 == model.portable_format
    assert first["products"]["dec_fc3"] == "float32" and first["products"]["enc_fc1"] == "float64"


def test_format_1_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    from bitsback_vae.model import BinaryVAE

    old = _quantize(capsys, "--portable_format", "1")
    assert old["portable_format"] == 1 and set(old["products"].values()) == {"float64"}
    assert (
        old["identity"]
        == BinaryVAE.from_config({"latent_dim": 50}, CHECKPOINT).portable(1).identity()
    )
    assert old["identity"] != _quantize(capsys)["identity"]


def test_writes_the_integers_and_never_overwrites(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "portable.npz"
    result = _quantize(capsys, "-o", str(out))
    with np.load(out, allow_pickle=False) as npz:
        weight = npz["dec_fc3.weight"]
        bits = npz["dec_fc3.bits"]
    assert weight.dtype == np.int64 and weight.shape == (784, 200)
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    expected = np.rint(state["dec_fc3.weight"].double().numpy() * 2.0 ** int(bits[1]))
    np.testing.assert_array_equal(weight, expected.astype(np.int64))
    assert result["output"] == str(out)
    before = out.read_bytes()
    code = main(["quantize", "--checkpoint", str(CHECKPOINT), "-o", str(out)])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
