"""Inference forms of conv layers that compute the same values with fewer passes over memory.

``conv_bn`` folds a frozen batch norm into the conv before it; ``pointwise_conv`` runs a 1x1 stride-1 conv on a
channels-last tensor as one matrix product. Both are exact rewrites (float rounding aside); see ``resnet.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def conv_bn(conv: nn.Conv2d, bn: nn.Module, x: Tensor) -> Tensor:
    """``bn(conv(x))`` as one conv with the frozen batch norm folded into its weight and bias (inference;
    ``bn`` holds ``weight``, ``bias``, ``running_mean``, ``running_var`` and ``eps`` like ``FrozenBatchNorm2d``)."""
    scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
    shift = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    if _is_pointwise(conv):
        return pointwise_conv(x, weight, shift)
    return F.conv2d(x, weight, shift, conv.stride, conv.padding, conv.dilation, conv.groups)


def _is_pointwise(conv: nn.Conv2d) -> bool:
    return conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0) and conv.groups == 1


def pointwise_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A 1x1, stride-1 conv. On a channels-last input it is one matrix product, (N*H*W, C_in) @ (C_in, C_out),
    whose result is already the channels-last output: no copies. (With one thread torch sends 1x1 convs to its
    non-oneDNN kernel, which first converts a channels-last input to NCHW and back: about 0.3 s of copies per
    800 px R50-FPN image.) Other layouts go to ``F.conv2d``."""
    n, c_in, h, w = x.shape
    if not x.is_contiguous(memory_format=torch.channels_last):
        return F.conv2d(x, weight, bias)
    flat = x.permute(0, 2, 3, 1).reshape(n * h * w, c_in)  # a view: channels-last rows
    w2 = weight.reshape(weight.shape[0], c_in)
    out = torch.addmm(bias, flat, w2.t()) if bias is not None else torch.mm(flat, w2.t())
    return out.reshape(n, h, w, -1).permute(0, 3, 1, 2)
