"""``multimodal``: the ``eeg1d`` encoder and the ``spec2d`` encoder, features concatenated.

(eeg, spec) → [Eeg1dEncoder(eeg) (B, F1) ‖ Spec2dEncoder(eeg, spec) (B, F2)] → dropout → linear.
Both branches train end to end from one loss.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from iiic.models.base import IIICModel, ModelOptions
from iiic.models.blocks import classifier_head
from iiic.models.eeg1d import Eeg1dEncoder, Eeg1dOptions
from iiic.models.registry import register_model
from iiic.models.spec2d import Spec2d, Spec2dEncoder, Spec2dOptions


class MultimodalOptions(ModelOptions):
    """Options of :class:`Multimodal`: one option block per branch + the fusion dropout."""

    eeg: Eeg1dOptions = Field(default_factory=Eeg1dOptions)
    spec: Spec2dOptions = Field(default_factory=Spec2dOptions)
    drop_rate: float = Field(0.3, ge=0.0, lt=1.0)


@register_model
class Multimodal(IIICModel):
    """1-D EEG branch + 2-D spectrogram branch, fused before the classifier."""

    name = "multimodal"
    Options = MultimodalOptions
    tiny_options: ClassVar[dict[str, Any]] = {
        "eeg": {"widths": (8,), "kernel_sizes": (3,), "gru_hidden": 4},
        "spec": Spec2d.tiny_options,
    }
    needs_eeg = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        o = self.options
        self.needs_spec = o.spec.use_kaggle_spec
        self.eeg_branch = Eeg1dEncoder(self.n_chans, o.eeg)
        self.spec_branch = Spec2dEncoder(self.n_chans, self.n_times, self.sfreq_hz, o.spec)
        self.num_features = self.eeg_branch.out_features + self.spec_branch.out_features
        self.head = classifier_head(self.num_features, self.n_outputs, o.drop_rate)

    def forward_features(
        self, eeg: torch.Tensor | None, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.check_inputs(eeg, spec)
        return torch.cat([self.eeg_branch(eeg), self.spec_branch(eeg, spec)], dim=1)
