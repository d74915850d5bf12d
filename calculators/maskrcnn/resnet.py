"""ResNet-50 (He et al. 2016) as a C2..C5 feature extractor, laid out like torchvision's ``resnet50``.

Submodule names match torchvision (``conv1``, ``bn1``, ``layer{1..4}.{i}.{conv1..3, bn1..3, downsample.{0,1}}``)
so a torchvision Mask R-CNN checkpoint's ``backbone.body.*`` tensors load without renaming. Bottlenecks put the
stride on the 3x3 conv ("ResNet v1.5"), as torchvision does. Detection checkpoints freeze batch norm: the
statistics and affine parameters are buffers (``FrozenBatchNorm2d``), so training a detector with small batches
does not update them.

Inference (``eval()`` mode) runs the same arithmetic in a faster form: each frozen batch norm is folded into the
conv before it (weight * scale, bias = shift: one conv instead of a conv plus two passes over its output), the
residual add and ReLUs run in place, and the body computes in channels-last memory format (oneDNN's preferred
layout on CPU; the tensors' shapes and values are unchanged, only their strides). Outputs agree with the training
path to float rounding (about 1e-6 relative, ``tests/maskrcnn/test_parity.py``). Training keeps the plain
conv -> batch norm modules, whose parameters the optimiser and checkpoints see; nothing is stored folded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .inference_ops import conv_bn


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters: y = (x - mean) / sqrt(var + eps) * weight + bias."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # checkpoints saved from a trainable nn.BatchNorm2d carry a step counter that frozen BN has no use for
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, H, W)."""
        scale = self.weight.reshape(1, -1, 1, 1) * (self.running_var.reshape(1, -1, 1, 1) + self.eps).rsqrt()
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + shift


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here) -> 1x1 expand x4, plus a projection shortcut when the shape changes."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), FrozenBatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return self._folded_forward(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))

    def _folded_forward(self, x: Tensor) -> Tensor:
        """The same block with each batch norm folded into its conv (module docstring), adds and ReLUs in place."""
        out = F.relu_(conv_bn(self.conv1, self.bn1, x))
        out = F.relu_(conv_bn(self.conv2, self.bn2, out))
        out = conv_bn(self.conv3, self.bn3, out)
        if isinstance(self.downsample, nn.Sequential):
            identity = conv_bn(self.downsample[0], self.downsample[1], x)
        else:
            identity = x
        return F.relu_(out.add_(identity))


@dataclass(frozen=True)
class Stage:
    """One ResNet stage: ``blocks`` bottlenecks of 3x3 width ``width``, the first with stride ``stride``."""

    blocks: int
    width: int
    stride: int


RESNET50_STAGES = (Stage(3, 64, 1), Stage(4, 128, 2), Stage(6, 256, 2), Stage(3, 512, 2))


class ResNet(nn.Module):
    """Stem + four bottleneck stages; ``forward`` returns [C2, C3, C4, C5] (strides 4, 8, 16, 32).

    ``trainable_layers`` (0..5) counts stages from the top that keep ``requires_grad``; torchvision's detection
    default is 3 (conv1 and layer1 frozen).
    """

    def __init__(self, stages: tuple[Stage, ...] = RESNET50_STAGES, trainable_layers: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        self.out_channels_list: list[int] = []
        for index, stage in enumerate(stages, start=1):
            blocks = []
            for b in range(stage.blocks):
                blocks.append(Bottleneck(in_channels, stage.width, stage.stride if b == 0 else 1))
                in_channels = stage.width * Bottleneck.expansion
            self.add_module(f"layer{index}", nn.Sequential(*blocks))
            self.out_channels_list.append(in_channels)
        self.num_stages = len(stages)
        trainable = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
        for name, param in self.named_parameters():
            if not any(name.startswith(prefix) for prefix in trainable):
                param.requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        """(N, 3, H, W) normalised image -> [(N, 256, H/4, W/4), ..., (N, 2048, H/32, W/32)].

        In eval mode the outputs are channels-last tensors (same shapes and values; module docstring)."""
        if self.training:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        else:
            x = x.contiguous(memory_format=torch.channels_last)
            x = self.maxpool(F.relu_(conv_bn(self.conv1, self.bn1, x)))
        outputs = []
        for index in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{index}")(x)
            outputs.append(x)
        return outputs
