"""Inference forms of the R50 body's convs (folded frozen batch norm, 1x1 convs as matrix products on channels-last
tensors) against the plain conv -> batch norm modules that training runs."""

from __future__ import annotations

import torch
from torch import nn

from calculators.maskrcnn.inference_ops import conv_bn, pointwise_conv
from calculators.maskrcnn.resnet import Bottleneck, FrozenBatchNorm2d, ResNet


def _randomise_batch_norms(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, FrozenBatchNorm2d):
            n = bn.weight.numel()
            bn.weight.copy_(0.5 + torch.rand(n, generator=g))
            bn.bias.copy_(0.1 * torch.randn(n, generator=g))
            bn.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            bn.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))


def test_conv_bn_equals_conv_then_batch_norm() -> None:
    g = torch.Generator().manual_seed(0)
    for kernel, stride, bias in ((3, 2, False), (1, 1, True), (1, 2, False), (7, 2, False)):
        conv = nn.Conv2d(6, 5, kernel, stride=stride, padding=kernel // 2, bias=bias)
        bn = FrozenBatchNorm2d(5)
        _randomise_batch_norms(bn, kernel + stride)
        x = torch.randn((2, 6, 11, 13), generator=g)
        with torch.no_grad():
            expected = bn(conv(x))
            torch.testing.assert_close(conv_bn(conv, bn, x), expected, rtol=1e-5, atol=1e-5)
            cl = x.contiguous(memory_format=torch.channels_last)
            torch.testing.assert_close(conv_bn(conv, bn, cl), expected, rtol=1e-5, atol=1e-5)


def test_pointwise_conv_keeps_channels_last_and_values() -> None:
    g = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(7, 4, 1)
    x = torch.randn((2, 7, 5, 6), generator=g)
    cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = pointwise_conv(cl, conv.weight, conv.bias)
        assert out.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(out, conv(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(pointwise_conv(x, conv.weight, None), conv(x) - conv.bias[:, None, None])


def test_eval_body_matches_the_training_modules() -> None:
    """The whole ResNet-50 body, eval (folded, channels-last) against train mode (modules as stored)."""
    torch.manual_seed(0)
    body = ResNet(trainable_layers=0)
    _randomise_batch_norms(body, 3)
    x = torch.randn((1, 3, 96, 128), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = body.train()(x)
        got = body.eval()(x)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        assert float((a - b).abs().max() / b.abs().max()) < 1e-5
    block = Bottleneck(16, 4, 1)
    _randomise_batch_norms(block, 4)
    y = torch.randn((1, 16, 9, 9))
    with torch.no_grad():
        torch.testing.assert_close(block.eval()(y), block.train()(y), rtol=1e-5, atol=1e-5)
