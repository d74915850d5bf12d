"""MediaPipe's hand landmark model (``hand_landmark_{lite,full}.tflite``, v0.10.21) as a plain PyTorch module.

A MobileNetV2-style backbone of inverted residual blocks (1x1 expand + ReLU6 -> depthwise kxk + ReLU6 -> 1x1
linear projection, plus a shortcut) from a 224x224 crop down to 7x7, a last 1x1 expansion and 3x3 depthwise conv
(both ReLU6, no projection), a global mean, and four fully connected heads. The lite and full models differ in the
block table (widths, kernels) and in one shortcut: lite's first stride-2 block adds a 2x2 max-pooled input.

Weights come from the .tflite files through ``calculators/hands/tflite_convert.py``; BatchNorm is folded into the
conv biases there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from calculators.common.tf_padding import Conv2dSame

Shortcut = Literal["none", "identity", "maxpool"]


@dataclass(frozen=True)
class BlockSpec:
    """One inverted residual block. ``hidden`` is the expanded width (None: no expansion conv, the depthwise conv
    runs on the block input). ``shortcut``: none, identity (stride 1, same width) or maxpool (stride 2, same width:
    2x2 VALID max pool of the input)."""

    out_channels: int
    hidden: int | None
    kernel: int
    stride: int
    shortcut: Shortcut = "none"


def _repeat(spec: BlockSpec, n: int) -> list[BlockSpec]:
    return [spec] * n


@dataclass(frozen=True)
class HandLandmarkConfig:
    """Shape of one hand landmark variant (read off the .tflite graphs)."""

    blocks: tuple[BlockSpec, ...]
    head_channels: int  # width of the last 1x1 expansion = the feature map the heads pool
    stem_channels: int = 24
    input_size: int = 224
    num_landmarks: int = 21


LITE_BLOCKS = (
    BlockSpec(16, None, 3, 1),  # 112
    BlockSpec(16, 64, 3, 2, "maxpool"),  # 56
    BlockSpec(16, 96, 3, 1, "identity"),
    BlockSpec(24, 96, 5, 2),  # 28
    BlockSpec(24, 144, 5, 1, "identity"),
    BlockSpec(48, 144, 3, 2),  # 14
    *_repeat(BlockSpec(48, 288, 3, 1, "identity"), 2),
    BlockSpec(64, 288, 5, 1),
    *_repeat(BlockSpec(64, 384, 5, 1, "identity"), 2),
    BlockSpec(112, 384, 5, 2),  # 7
    *_repeat(BlockSpec(112, 672, 5, 1, "identity"), 3),
)

FULL_BLOCKS = (
    BlockSpec(16, None, 3, 1),  # 112
    BlockSpec(24, 64, 3, 2),  # 56
    BlockSpec(24, 144, 3, 1, "identity"),
    BlockSpec(40, 144, 5, 2),  # 28
    BlockSpec(40, 240, 5, 1, "identity"),
    BlockSpec(80, 240, 3, 2),  # 14
    *_repeat(BlockSpec(80, 480, 3, 1, "identity"), 2),
    BlockSpec(112, 480, 5, 1),
    *_repeat(BlockSpec(112, 672, 5, 1, "identity"), 2),
    BlockSpec(192, 672, 5, 2),  # 7
    *_repeat(BlockSpec(192, 1152, 5, 1, "identity"), 3),
)

LANDMARK_CONFIGS: dict[str, HandLandmarkConfig] = {
    "lite": HandLandmarkConfig(blocks=LITE_BLOCKS, head_channels=672),
    "full": HandLandmarkConfig(blocks=FULL_BLOCKS, head_channels=1152),
}


class Pointwise(nn.Conv2d):
    """1x1 conv. On CPU with channels_last float32 input it calls oneDNN directly: with one intra-op thread
    PyTorch otherwise routes 1x1 convs to its generic ``slow_conv2d`` GEMM path, 1.2-2x slower at these sizes
    (measured). Same parameters as ``nn.Conv2d``; other inputs (NCHW, CUDA, autocast dtypes) take the plain path.

    (B, in_channels, H, W) -> (B, out_channels, H, W)
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # under torch.compile (checked first: the other checks would break the graph) inductor picks the kernels;
        # an ONNX export (tracing) needs the plain conv, which exporters know
        if (not torch.compiler.is_compiling() and not torch.jit.is_tracing()
                and x.device.type == "cpu" and x.dtype == torch.float32
                and torch.backends.mkldnn.is_available() and x.is_contiguous(memory_format=torch.channels_last)):
            return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, [0, 0], [1, 1], [1, 1], 1)
        return super().forward(x)


class InvertedResidual(nn.Module):
    """``project(dw(expand(x))) + shortcut(x)``; expand and dw end in ReLU6, project is linear.

    (B, in_channels, H, W) -> (B, spec.out_channels, H/stride, W/stride)
    """

    def __init__(self, in_channels: int, spec: BlockSpec) -> None:
        super().__init__()
        hidden = spec.hidden or in_channels
        if spec.shortcut != "none" and in_channels != spec.out_channels:
            raise ValueError(f"a {spec.shortcut} shortcut needs equal widths, got {in_channels} -> {spec.out_channels}")
        if (spec.shortcut == "maxpool") != (spec.shortcut != "none" and spec.stride == 2):
            raise ValueError(f"shortcut {spec.shortcut!r} does not fit stride {spec.stride}")
        self.expand = (nn.Sequential(Pointwise(in_channels, hidden), nn.ReLU6(inplace=True))
                       if spec.hidden is not None else nn.Identity())
        self.dw = nn.Sequential(Conv2dSame(hidden, hidden, spec.kernel, stride=spec.stride, groups=hidden),
                                nn.ReLU6(inplace=True))
        self.project = Pointwise(hidden, spec.out_channels)
        self.shortcut: Shortcut = spec.shortcut
        self.pool = nn.MaxPool2d(2, 2) if spec.shortcut == "maxpool" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project(self.dw(self.expand(x)))
        if self.shortcut == "none":
            return h
        return h.add_(self.pool(x))  # h is this block's fresh tensor: add in place, no new activation buffer


class HandLandmarkNet(nn.Module):
    """Hand landmark model: a 224x224 hand crop -> 21 landmarks, presence, handedness, 21 world landmarks.

    Input: (B, 3, 224, 224) float32, NCHW, RGB, values in [0, 1] (MediaPipe crops the rotated hand ROI with
    BORDER_REPLICATE and scales to [0, 1]). TFLite's input is the same tensor in NHWC.

    Outputs, in the TFLite order and semantics (``Identity`` .. ``Identity_3``):
      landmarks (B, 63) - 21 x (x, y, z); x, y in pixels of the 224x224 input, z in the same pixel scale
        relative to the wrist (MediaPipe divides by 224 and by ``normalize_z`` 0.4).
      presence (B, 1) - hand presence probability (the model already applies the sigmoid).
      handedness (B, 1) - probability that the hand is a *left* hand as seen in a mirrored (selfie) image
        (label map [Left, Right]; sigmoid applied).
      world_landmarks (B, 63) - 21 x (x, y, z) in metres, origin near the hand's centre, axes of the crop.

    For class-activation maps: ``forward_features`` returns the last conv feature map (B, head_channels, 7, 7)
    (after ReLU6); ``forward_heads`` takes it through the global mean and the FC heads ``fc_landmarks``,
    ``fc_presence``, ``fc_handedness``, ``fc_world_landmarks`` (each ``nn.Linear(head_channels, .)``).
    """

    def __init__(self, config: HandLandmarkConfig) -> None:
        super().__init__()
        self.config = config
        # layout the convs run in: channels_last (NHWC) is faster on CPU (oneDNN depthwise and 1x1 convs)
        self.memory_format = torch.channels_last
        # 224 -> 112
        self.stem = nn.Sequential(Conv2dSame(3, config.stem_channels, 3, stride=2), nn.ReLU6(inplace=True))
        blocks, width = [], config.stem_channels
        for spec in config.blocks:
            blocks.append(InvertedResidual(width, spec))
            width = spec.out_channels
        self.blocks = nn.Sequential(*blocks)
        c = config.head_channels
        self.head_expand = nn.Sequential(Pointwise(width, c), nn.ReLU6(inplace=True))
        self.head_dw = nn.Sequential(Conv2dSame(c, c, 3, groups=c), nn.ReLU6(inplace=True))
        n = 3 * config.num_landmarks
        self.fc_landmarks = nn.Linear(c, n)
        self.fc_presence = nn.Linear(c, 1)
        self.fc_handedness = nn.Linear(c, 1)
        self.fc_world_landmarks = nn.Linear(c, n)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) in [0, 1] -> last conv features (B, head_channels, 7, 7), channels_last strides."""
        x = x.contiguous(memory_format=self.memory_format)
        x = self.stem(x)  # (B, 24, 112, 112)
        x = self.blocks(x)  # (B, last block width, 7, 7)
        return self.head_dw(self.head_expand(x))

    def forward_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, head_channels, h, w) -> landmarks (B, 63), presence (B, 1), handedness (B, 1), world (B, 63)."""
        pooled = features.mean(dim=(2, 3))  # (B, head_channels)
        return (self.fc_landmarks(pooled),
                torch.sigmoid(self.fc_presence(pooled)),
                torch.sigmoid(self.fc_handedness(pooled)),
                self.fc_world_landmarks(pooled))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, 224, 224) in [0, 1] -> landmarks (B, 63), presence (B, 1), handedness (B, 1), world (B, 63)."""
        return self.forward_heads(self.forward_features(x))
