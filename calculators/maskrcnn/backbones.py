"""Named backbone factories for ``MaskRCNNConfig.backbone``.

A backbone is an ``nn.Module`` mapping a (N, 3, H, W) normalised batch to an OrderedDict of FPN levels
{"0": stride 4, "1": 8, "2": 16, "3": 32, "pool": 64} and exposing ``out_channels`` (torchvision's convention).
Register others with ``@register_backbone("name")``; a factory takes the config's ``fpn_channels`` and
``trainable_backbone_layers``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .fpn import BackboneWithFPN
from .resnet import ResNet

BackboneFactory = Callable[[int, int], nn.Module]
BACKBONES: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    def decorate(factory: BackboneFactory) -> BackboneFactory:
        if name in BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered")
        BACKBONES[name] = factory
        return factory

    return decorate


def build_backbone(name: str, fpn_channels: int, trainable_layers: int) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; registered: {sorted(BACKBONES)}")
    return BACKBONES[name](fpn_channels, trainable_layers)


@register_backbone("resnet50")
def resnet50_fpn(fpn_channels: int, trainable_layers: int) -> nn.Module:
    """torchvision's ``resnet_fpn_backbone("resnet50")`` layout: frozen-BN ResNet-50, FPN on C2..C5."""
    body = ResNet(trainable_layers=trainable_layers)
    return BackboneWithFPN(body, body.out_channels_list, fpn_channels)
