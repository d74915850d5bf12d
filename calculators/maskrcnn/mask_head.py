"""The mask branch (He et al. 2017, Fig. 4 right): four 3x3 convs at 14x14, a 2x2 stride-2 deconvolution to 28x28,
and a 1x1 conv giving one mask logit map per class (the class decides which map is used; no competition
between classes). Names match torchvision's ``MaskRCNNHeads`` (``{i}.0``) and ``MaskRCNNPredictor``
(``conv5_mask``, ``mask_fcn_logits``).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


class MaskHead(nn.Sequential):
    """(K, in_channels, 14, 14) -> (K, layers[-1], 14, 14)."""

    def __init__(self, in_channels: int, layers: tuple[int, ...], dilation: int = 1) -> None:
        blocks = []
        for width in layers:
            conv = nn.Conv2d(in_channels, width, 3, padding=dilation, dilation=dilation)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            blocks.append(nn.Sequential(conv, nn.ReLU(inplace=True)))
            in_channels = width
        super().__init__(*blocks)


class MaskPredictor(nn.Sequential):
    """(K, in_channels, 14, 14) -> (K, num_classes, 28, 28) mask logits."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int) -> None:
        super().__init__(
            OrderedDict(
                conv5_mask=nn.ConvTranspose2d(in_channels, hidden, 2, stride=2),
                relu=nn.ReLU(inplace=True),
                mask_fcn_logits=nn.Conv2d(hidden, num_classes, 1),
            )
        )
        for name, param in self.named_parameters():
            if "weight" in name:
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.zeros_(param)
