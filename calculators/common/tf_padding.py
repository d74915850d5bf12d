"""TensorFlow/TFLite "SAME" padding for PyTorch convolutions and pools.

TF pads so that ``out = ceil(in / stride)``; the total padding ``max((out - 1) * stride + k_eff - in, 0)`` is split
with the extra pixel on the bottom/right. For stride 1 and odd kernels that is symmetric (a plain ``padding=k//2``);
for stride 2 it is often asymmetric (e.g. 0 top/left, 1 bottom/right for k=3 on an even input), which is why a
plain PyTorch ``padding=1`` port of a TFLite network drifts by a pixel. This module is the one place that rule lives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding_1d(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding TF's SAME adds along one axis of length ``size``."""
    k_eff = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int | tuple[int, int], stride: int | tuple[int, int],
             dilation: int = 1, value: float = 0.0) -> torch.Tensor:
    """Pad an (N, C, H, W) tensor as TF's SAME would before a VALID conv/pool."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    top, bottom = same_padding_1d(x.shape[-2], kh, sh, dilation)
    left, right = same_padding_1d(x.shape[-1], kw, sw, dilation)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TF SAME padding computed from the input size (weights load like a plain conv)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = True, dilation: int = 1) -> None:
        # Stride 1 with an odd kernel pads (k_eff-1)/2 on every side whatever the input size: let the conv do it
        # (no extra F.pad copy). Other cases depend on the input size and are padded in forward.
        k_eff = (kernel_size - 1) * dilation + 1
        self.static_same = stride == 1 and k_eff % 2 == 1
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=k_eff // 2 if self.static_same else 0,
                         dilation=dilation, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.static_same:
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        k = self.kernel_size
        x = pad_same(x, (k[0], k[1]), (self.stride[0], self.stride[1]), self.dilation[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MaxPool2dSame(nn.Module):
    """Max pooling with TF SAME padding (pads with -inf, so padding never wins)."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)
