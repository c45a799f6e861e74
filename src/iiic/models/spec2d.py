"""``spec2d``: a timm 2-D CNN on a tiled spectrogram image.

The image is built inside the model (so it runs on the GPU with the rest):

- EEG tile (``use_eeg``): a time–frequency image of each of the 16 bipolar chain channels,
  averaged over the four pairs of each chain → 4 images (LL, RL, LP, RP) stacked vertically,
  (B, 1, 4·rows, frames); the central pairs, if present, are not used here. ``transform``:
  ``"mel"`` (log-mel, :class:`iiic.signal.spectrogram.MelSpectrogram`, ``n_mels`` rows),
  ``"stft"`` (log power on the linear FFT grid between fmin and fmax,
  :class:`~iiic.signal.spectrogram.StftSpectrogram`) or ``"cwt"`` (log power of a complex Morlet
  wavelet transform, ``n_mels`` log-spaced frequencies of ``cwt_cycles`` cycles,
  :class:`iiic.signal.cwt.CwtScalogram`; the 1st-place HMS input). All are computed on the fly
  in torch, on the model's device.
- Kaggle tile (``use_kaggle_spec``): the 4 chains of ``spec`` (B, 4, 100, 300) stacked
  vertically, (B, 1, 400, 300).

Each tile is standardised per image, resized to (``image_height``, ``image_width`` / n_tiles)
and the tiles are placed side by side; the image is repeated to ``in_chans`` channels and fed to
``timm.create_model(backbone, pretrained=False, num_classes=0)``; dropout + linear → logits.
``weights`` loads local ImageNet weights (see :mod:`iiic.models.weights`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import timm
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from iiic.constants import BIPOLAR_PAIRS, SPEC_CHAINS
from iiic.models.base import IIICModel, ModelOptions
from iiic.models.blocks import classifier_head
from iiic.models.registry import register_model
from iiic.models.weights import load_backbone_weights
from iiic.utils import bad_value

N_CHAIN_PAIRS = len(BIPOLAR_PAIRS)  # 16 channels: 4 chains x 4 pairs
STD_EPS = 1e-6


class Spec2dOptions(ModelOptions):
    """Options of :class:`Spec2d` (spectrogram settings in s and Hz, image in pixels)."""

    backbone: str = "tf_efficientnet_lite0"
    weights: str | None = None
    in_chans: Literal[1, 3] = 3
    use_eeg: bool = True
    use_kaggle_spec: bool = True
    fft_window_s: float = Field(1.28, gt=0)
    hop_s: float = Field(0.2, gt=0)
    n_mels: int = Field(128, ge=1)
    fmin_hz: float = Field(0.5, ge=0)
    fmax_hz: float = Field(20.0, gt=0)
    image_height: int = Field(512, ge=8)
    image_width: int = Field(512, ge=8)
    drop_rate: float = Field(0.2, ge=0.0, lt=1.0)
    stft_impl: Literal["torch", "conv"] = "torch"
    """``"conv"``: an ONNX-exportable STFT (same values; see iiic.signal.spectrogram)."""
    transform: Literal["mel", "stft", "cwt"] = "mel"
    """EEG tile: log-mel, linear-frequency STFT or Morlet CWT (see the module docstring)."""
    cwt_cycles: float = Field(6.0, gt=0)
    """``transform="cwt"``: cycles per wavelet (time σ = cwt_cycles / (2π f) s)."""
    cwt_impl: Literal["fft", "conv"] = "fft"
    """``transform="cwt"``: ``"conv"`` is the ONNX-exportable form (same values; iiic.signal.cwt)."""

    @model_validator(mode="after")
    def _some_input(self) -> Spec2dOptions:
        if not (self.use_eeg or self.use_kaggle_spec):
            raise ValueError(
                bad_value("use_eeg, use_kaggle_spec", "at least one true", "both false")
            )
        if self.fmin_hz >= self.fmax_hz:
            raise ValueError(bad_value("fmin_hz", "< fmax_hz", f"{self.fmin_hz} >= {self.fmax_hz}"))
        return self


def _standardise(img: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per image: (B, 1, H, W) → same."""
    mean = img.mean(dim=(2, 3), keepdim=True)
    std = img.std(dim=(2, 3), keepdim=True)
    return (img - mean) / (std + STD_EPS)


def _eeg_transform(opts: Spec2dOptions, sfreq_hz: float, n_times: int) -> nn.Module:
    """The EEG tile's transform, (B, C, T) → (B, C, rows, frames): mel, stft or cwt."""
    hop = max(1, round(opts.hop_s * sfreq_hz))
    band = {"fmin_hz": opts.fmin_hz, "fmax_hz": opts.fmax_hz}
    if opts.transform == "cwt":
        from iiic.signal.cwt import CwtScalogram

        cwt = CwtScalogram(sfreq_hz=sfreq_hz, n_freqs=opts.n_mels, n_cycles=opts.cwt_cycles,
                           hop_length=hop, impl=opts.cwt_impl, **band)  # fmt: skip
        if cwt.support // 2 >= n_times:
            raise ValueError(f"spec2d: the {opts.fmin_hz} Hz wavelet ({cwt.support} samples) is "
                             f"longer than the window ({n_times}); raise fmin_hz")  # fmt: skip
        return cwt
    from iiic.signal.spectrogram import MelSpectrogram, StftSpectrogram

    n_fft = round(opts.fft_window_s * sfreq_hz)
    if opts.transform == "stft":
        return StftSpectrogram(sfreq_hz=sfreq_hz, n_fft=n_fft, hop_length=hop,
                               stft_impl=opts.stft_impl, **band)  # fmt: skip
    return MelSpectrogram(sfreq_hz=sfreq_hz, n_fft=n_fft, hop_length=hop, n_mels=opts.n_mels,
                          stft_impl=opts.stft_impl, **band)  # fmt: skip


class Spec2dEncoder(nn.Module):
    """(eeg (B, C, T), spec (B, 4, 100, 300)) → backbone features (B, out_features)."""

    def __init__(self, n_chans: int, n_times: int, sfreq_hz: float, opts: Spec2dOptions) -> None:
        super().__init__()
        self.opts = opts
        if opts.use_eeg:
            if n_chans < N_CHAIN_PAIRS:
                raise ValueError(
                    f"spec2d: use_eeg needs the {N_CHAIN_PAIRS} bipolar chain channels first; "
                    f"n_chans={n_chans}"
                )
            if opts.fmax_hz > sfreq_hz / 2:
                raise ValueError(
                    f"spec2d: fmax_hz={opts.fmax_hz} exceeds Nyquist {sfreq_hz / 2} Hz"
                )
            self.mel = _eeg_transform(opts, sfreq_hz, n_times)
        self.n_tiles = int(opts.use_eeg) + int(opts.use_kaggle_spec)
        self.backbone = timm.create_model(
            opts.backbone, pretrained=False, num_classes=0, in_chans=opts.in_chans
        )
        if opts.weights is not None:
            load_backbone_weights(self.backbone, opts.weights)
        self.out_features = self.backbone.num_features

    def eeg_tile(self, eeg: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → time–frequency chains stacked vertically (B, 1, 4·rows, frames)."""
        mel = self.mel(eeg[:, :N_CHAIN_PAIRS].float())  # (B, 16, M, F)
        b, _, m, f = mel.shape
        chains = mel.reshape(b, len(SPEC_CHAINS), -1, m, f).mean(dim=2)  # (B, 4, M, F)
        return chains.reshape(b, 1, len(SPEC_CHAINS) * m, f)

    @staticmethod
    def kaggle_tile(spec: torch.Tensor) -> torch.Tensor:
        """(B, 4, 100, 300) → chains stacked vertically (B, 1, 400, 300)."""
        b, c, h, w = spec.shape
        return spec.reshape(b, 1, c * h, w)

    def image(self, eeg: torch.Tensor | None, spec: torch.Tensor | None) -> torch.Tensor:
        """The tiled image (B, in_chans, image_height, image_width)."""
        tiles = []
        if self.opts.use_eeg:
            tiles.append(self.eeg_tile(eeg))
        if self.opts.use_kaggle_spec:
            tiles.append(self.kaggle_tile(spec.float()))
        size = (self.opts.image_height, self.opts.image_width // self.n_tiles)
        tiles = [F.interpolate(_standardise(t), size=size, mode="bilinear") for t in tiles]
        img = torch.cat(tiles, dim=3)  # (B, 1, H, W)
        return img.expand(-1, self.opts.in_chans, -1, -1)

    def forward(self, eeg: torch.Tensor | None, spec: torch.Tensor | None) -> torch.Tensor:
        return self.backbone(self.image(eeg, spec))  # (B, num_features)


@register_model
class Spec2d(IIICModel):
    """timm backbone on EEG-mel and/or Kaggle spectrogram tiles (see the module docstring)."""

    name = "spec2d"
    Options = Spec2dOptions
    tiny_options: ClassVar[dict[str, Any]] = {
        "backbone": "test_efficientnet",  # timm's test network
        "in_chans": 1,
        "n_mels": 8,
        "fmax_hz": 9.0,  # below Nyquist at 20 Hz
        "image_height": 32,
        "image_width": 64,
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        o = self.options
        self.needs_eeg, self.needs_spec = o.use_eeg, o.use_kaggle_spec
        self.encoder = Spec2dEncoder(self.n_chans, self.n_times, self.sfreq_hz, o)
        self.num_features = self.encoder.out_features
        self.head = classifier_head(self.num_features, self.n_outputs, o.drop_rate)

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        return self.encoder(eeg, spec)
