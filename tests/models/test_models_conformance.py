"""Conformance of every registered model: shapes, NaN, gradients, config round-trip, errors."""

from __future__ import annotations

import pytest
import torch

from iiic.constants import N_CLASSES, SFREQ_HZ
from iiic.models import UnknownModelError, create_model, get_model_class, list_models
from iiic.models.base import IIICModel

N_CHANS = 18  # 16 chains + the central pair
SFREQ = SFREQ_HZ / 10  # 20 Hz keeps the tensors tiny
N_TIMES = 1000  # 50 s at 20 Hz
BATCH = 2
TINY_SPEC = get_model_class("spec2d").tiny_options


def _model(name: str):
    """The model's own tiny instance (``tiny_options``, declared on its class)."""
    torch.manual_seed(0)
    options = get_model_class(name).tiny_options
    return create_model(name, n_chans=N_CHANS, n_times=N_TIMES, sfreq_hz=SFREQ, **options)


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, N_CHANS, N_TIMES, generator=g), torch.randn(
        BATCH, 4, 100, 300, generator=g
    )


def test_every_registered_model_declares_its_tiny_options() -> None:
    """Every test below runs over every registered model, built with the options its class
    declares (no table here to keep in step)."""
    assert {"eeg1d", "spec2d", "multimodal", "sparcnet"} <= set(list_models())
    for name in list_models():
        cls = get_model_class(name)
        assert "tiny_options" in vars(cls), f"{name}: declare tiny_options on {cls.__name__}"
        cls.Options.model_validate(cls.tiny_options)
    assert IIICModel.tiny_options is None


@pytest.mark.parametrize("name", list_models())
def test_n_times_is_checked_against_window_s_times_the_rate(name: str) -> None:
    """braindecode's contract: ``window_s`` x ``sfreq_hz`` derives ``n_times``, or must agree with
    it (within one sample); the error names the model and both numbers."""
    options = get_model_class(name).tiny_options
    window_s = N_TIMES / SFREQ
    with pytest.raises(ValueError, match=rf"{name}: n_times=1100 samples does not match "
                       rf"window_s=50 s × sfreq_hz=20 Hz = 1000 samples"):  # fmt: skip
        create_model(name, n_chans=N_CHANS, n_times=1100, sfreq_hz=SFREQ, window_s=window_s,
                     **options)  # fmt: skip
    model = create_model(name, n_chans=N_CHANS, sfreq_hz=SFREQ, window_s=window_s, **options)
    assert model.n_times == N_TIMES
    assert type(model).from_config(model.get_config()).get_config() == model.get_config()
    decimated = create_model(
        name,
        n_chans=N_CHANS,
        n_times=N_TIMES - 1,
        sfreq_hz=SFREQ,
        window_s=window_s - 0.01,
        **options,
    )  # fmt: skip  (999.8 samples)
    assert decimated.n_times == N_TIMES - 1


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_finite_and_gradients_reach_every_parameter(name: str) -> None:
    model = _model(name)
    eeg, spec = _inputs()
    logits = model(eeg, spec if model.needs_spec else None)
    assert logits.shape == (BATCH, N_CLASSES)
    assert torch.isfinite(logits).all()
    torch.log_softmax(logits, dim=1)[:, 0].sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    zero = [
        n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0
    ]
    assert zero == []


@pytest.mark.parametrize("name", list_models())
def test_one_optimizer_step_changes_the_output(name: str) -> None:
    model = _model(name)
    eeg, spec = _inputs()
    spec = spec if model.needs_spec else None
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    target = torch.full((BATCH, N_CLASSES), 1 / N_CLASSES)
    model.eval()
    before = model(eeg, spec).detach()
    model.train()
    loss = torch.nn.functional.kl_div(
        torch.log_softmax(model(eeg, spec), 1), target, reduction="batchmean"
    )
    loss.backward()
    opt.step()
    model.eval()
    assert not torch.allclose(before, model(eeg, spec).detach())


@pytest.mark.parametrize("name", list_models())
def test_config_round_trips_to_an_identical_model(name: str) -> None:
    model = _model(name)
    config = model.get_config()
    rebuilt = type(model).from_config(config)
    assert rebuilt.get_config() == config
    rebuilt.load_state_dict(model.state_dict())
    model.eval()
    rebuilt.eval()
    eeg, spec = _inputs(1)
    spec = spec if model.needs_spec else None
    torch.testing.assert_close(model(eeg, spec), rebuilt(eeg, spec))


@pytest.mark.parametrize("name", list_models())
def test_wrong_eeg_shape_is_a_clear_error(name: str) -> None:
    model = _model(name)
    eeg, spec = _inputs()
    with pytest.raises(
        ValueError, match=rf"{name}: eeg: expected shape \(B, {N_CHANS}, {N_TIMES}\)"
    ):
        model(eeg[:, :, :-1], spec)


def test_unknown_model_name_lists_valid_names_and_closest() -> None:
    with pytest.raises(
        UnknownModelError, match=r"unknown name 'eeg1'.*'eeg1d'.*did you mean 'eeg1d'"
    ):
        create_model("eeg1", n_chans=16, n_times=1000, sfreq_hz=SFREQ)


def test_unknown_option_names_the_option() -> None:
    with pytest.raises(ValueError, match="gru_hiden"):
        create_model("eeg1d", n_chans=16, n_times=1000, sfreq_hz=SFREQ, gru_hiden=3)


def test_sparcnet_sees_only_the_central_10_s() -> None:
    model = _model("sparcnet").eval()
    eeg, _ = _inputs()
    crop = model.crop_samples
    assert crop == round(10 * SFREQ)
    start = (N_TIMES - crop) // 2
    changed = eeg.clone()
    changed[..., :start] = 100.0
    changed[..., start + crop :] = -100.0
    torch.testing.assert_close(model(eeg), model(changed))
    changed[..., start + crop // 2] += 5.0
    assert not torch.allclose(model(eeg), model(changed))


def test_spec2d_kaggle_only_model_ignores_eeg_and_needs_spec() -> None:
    opts = {**TINY_SPEC, "use_eeg": False}
    model = create_model("spec2d", n_chans=N_CHANS, n_times=N_TIMES, sfreq_hz=SFREQ, **opts).eval()
    assert model.needs_spec and not model.needs_eeg
    _, spec = _inputs()
    assert model(None, spec).shape == (BATCH, N_CLASSES)
    with pytest.raises(ValueError, match="spec: expected shape"):
        model(None, None)


def test_chain1d_is_mirror_invariant_and_needs_the_chains() -> None:
    """chain1d compares homologous chains symmetrically: mirroring left and right (LL<->RL,
    LP<->RP; midline unchanged) leaves its logits unchanged, while eeg1d's change."""
    from iiic.models.chain1d import LEFT, RIGHT

    mirror = list(range(N_CHANS))
    for a, b in zip(LEFT, RIGHT, strict=True):
        mirror[a], mirror[b] = b, a
    eeg, _ = _inputs(1)
    for name, invariant in (("chain1d", True), ("eeg1d", False)):
        model = _model(name).eval()
        with torch.no_grad():
            same = torch.allclose(model(eeg), model(eeg[:, mirror]), atol=1e-5)
        assert same is invariant, name
    with pytest.raises(ValueError, match="n_chans: expected >= 16"):
        create_model("chain1d", n_chans=8, n_times=N_TIMES, sfreq_hz=SFREQ)


ONNX_CHECKED = ("eeg1d", "chain1d", "squeezeformer1d")
"""Models whose ONNX graph is compared with torch here (spec2d / multimodal: tests/predict)."""


@pytest.mark.parametrize("name", ONNX_CHECKED)
def test_onnx_export_opset17_matches_torch(name: str) -> None:
    """The model exports (opset 17, dynamic batch) and onnxruntime gives torch's logits."""
    import numpy as np
    import onnxruntime as ort

    from iiic.predict.onnx import OPSET, export_bytes

    assert OPSET == 17
    model = _model(name).eval()
    eeg, spec = _inputs(2)
    onnx_bytes = export_bytes(model, n_chans=N_CHANS, n_times=N_TIMES, label=name)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = {"eeg": eeg.numpy()} if model.needs_eeg else {}
    if model.needs_spec:
        feeds["spec"] = spec.numpy()
    (logits,) = session.run(["logits"], feeds)
    with torch.no_grad():
        expected = model(eeg if model.needs_eeg else None, spec if model.needs_spec else None)
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("transform", ["stft", "cwt"])
def test_spec2d_transforms_train_and_export_to_onnx(transform: str) -> None:
    """spec2d's stft and cwt EEG tiles: shape, gradients, and the ONNX graph (the conv forms)
    gives torch's logits."""
    import numpy as np
    import onnxruntime as ort

    from iiic.predict.onnx import export_bytes

    opts = {**TINY_SPEC, "use_kaggle_spec": False, "transform": transform, "fmin_hz": 1.0}
    torch.manual_seed(0)
    model = create_model("spec2d", n_chans=N_CHANS, n_times=N_TIMES, sfreq_hz=SFREQ, **opts)
    eeg, _ = _inputs(3)
    logits = model(eeg)
    assert logits.shape == (BATCH, N_CLASSES) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        expected = model(eeg).numpy()
    session = ort.InferenceSession(
        export_bytes(model, n_chans=N_CHANS, n_times=N_TIMES, label=transform),
        providers=["CPUExecutionProvider"],
    )
    (got,) = session.run(["logits"], {"eeg": eeg.numpy()})
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=1e-3)
