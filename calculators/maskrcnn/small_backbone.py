"""A small Mask R-CNN backbone: EfficientNet-Lite0 (ImageNet weights) C2..C5 + a narrow FPN.

Registered as ``MaskRCNNConfig.backbone = "efficientnet_lite0_fpn"``. Output follows torchvision's convention (see
``backbones.py``): ``{"0": P2 stride 4, "1": P3 8, "2": P4 16, "3": P5 32, "pool": P6 64}``, each
(B, fpn_channels, ceil(H/s), ceil(W/s)), and an ``out_channels`` attribute.

The classifier head of EfficientNet-Lite0 (1x1 conv to 1280 channels and the ImageNet fc) is dropped: C5 is the
last MBConv stage (320 channels). BatchNorm layers stay in eval mode with frozen affine parameters ("frozen BN",
as torchvision does for detection backbones), because detection batches are too small for batch statistics.
Only the last ``trainable_layers`` of the 7 MBConv stages learn; the stem and the earlier stages are frozen.

Input normalisation for the ImageNet weights is ``(255 x - 127) / 128`` on [0, 1] RGB, i.e. the detector's
``image_mean = 127/255`` and ``image_std = 128/255`` (``EFFICIENTNET_MEAN``/``EFFICIENTNET_STD``; the TF reference
preprocessing of ``efficientnet_lite_builder.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from calculators.cam.efficientnet_lite import LITE0_STAGES, PYRAMID_LEVELS, EfficientNetLite0, load_state_dict
from calculators.maskrcnn.backbones import register_backbone
from calculators.maskrcnn.fpn import BackboneWithFPN

EFFICIENTNET_MEAN: tuple[float, float, float] = (127.0 / 255.0,) * 3
EFFICIENTNET_STD: tuple[float, float, float] = (128.0 / 255.0,) * 3


class EfficientNetLiteBody(EfficientNetLite0):
    """EfficientNet-Lite0 without its classifier: (B, 3, H, W) -> [C2 (B, 24, H/4, W/4), C3 (B, 40, H/8, W/8),
    C4 (B, 112, H/16, W/16), C5 (B, 320, H/32, W/32)] (sizes rounded up). Parameter names are the ImageNet
    checkpoint's (``_conv_stem``, ``_blocks.{i}...``) so it loads without a mapping table."""

    def __init__(self, pretrained: bool = True, trainable_layers: int = 6) -> None:
        super().__init__()
        if not 0 <= trainable_layers <= len(LITE0_STAGES):
            raise ValueError(f"trainable_layers must be in 0..{len(LITE0_STAGES)}, got {trainable_layers}")
        del self._conv_head, self._bn1, self._fc
        if pretrained:
            head = ("_conv_head.", "_bn1.", "_fc.")
            state = {k: v for k, v in load_state_dict().items() if not k.startswith(head)}
            self.load_state_dict(state, strict=True)
        self.out_channels_list = [channels for _, channels in PYRAMID_LEVELS.values()]
        first_trainable_block = sum(s.repeats for s in LITE0_STAGES[: len(LITE0_STAGES) - trainable_layers])
        frozen: list[nn.Module] = [self._conv_stem, self._bn0, *self._blocks[:first_trainable_block]]
        frozen += [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> EfficientNetLiteBody:
        """Set the mode, except that BatchNorm layers always stay in eval mode (frozen running statistics)."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.train(False)
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        pyramid = self.forward_pyramid(x)
        return [pyramid[name] for name in PYRAMID_LEVELS]


@register_backbone("efficientnet_lite0_fpn")
def efficientnet_lite0_fpn(fpn_channels: int, trainable_layers: int) -> nn.Module:
    """ImageNet EfficientNet-Lite0 C2..C5 + FPN with ``fpn_channels`` (randomly initialised FPN)."""
    body = EfficientNetLiteBody(pretrained=True, trainable_layers=trainable_layers)
    return BackboneWithFPN(body, body.out_channels_list, fpn_channels)
