"""Feature Pyramid Network (Lin et al. 2017) over any list of backbone stages, and the backbone+FPN wrapper.

Laterals are 1x1 convs to ``out_channels``; the top-down path adds the nearest-upsampled coarser level (to the
lateral's exact size); a 3x3 conv smooths each sum. The extra "pool" level P6 is a stride-2 subsampling
(max_pool2d, kernel 1) of the coarsest output, used only by the RPN. Names (``inner_blocks.{i}.0``,
``layer_blocks.{i}.0``) match torchvision's ``FeaturePyramidNetwork`` so its checkpoints load unchanged.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torch.nn import functional as F

from .inference_ops import pointwise_conv


class FeaturePyramidNetwork(nn.Module):
    """[C_i] with channels ``in_channels_list`` (fine to coarse) -> OrderedDict {"0".."L-1", "pool"} of P levels."""

    def __init__(self, in_channels_list: list[int], out_channels: int, extra_pool: bool = True) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(c, out_channels, 1)) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1)) for _ in in_channels_list
        )
        self.extra_pool = extra_pool
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=1)
                nn.init.zeros_(module.bias)

    def _lateral(self, index: int, feature: Tensor) -> Tensor:
        """The 1x1 lateral conv of level ``index`` (a matrix product on channels-last features, inference_ops)."""
        conv = self.inner_blocks[index][0]
        return pointwise_conv(feature, conv.weight, conv.bias)

    def forward(self, features: list[Tensor]) -> OrderedDict[str, Tensor]:
        """[(N, C_i, H_i, W_i)] -> {"i": (N, out, H_i, W_i)} plus "pool": (N, out, ceil(H_last/2), ceil(W_last/2))."""
        top_down = self._lateral(len(features) - 1, features[-1])
        outputs = [self.layer_blocks[-1](top_down)]
        for index in range(len(features) - 2, -1, -1):
            lateral = self._lateral(index, features[index])
            top_down = lateral + F.interpolate(top_down, size=lateral.shape[-2:], mode="nearest")
            outputs.insert(0, self.layer_blocks[index](top_down))
        pyramid = OrderedDict((str(i), p) for i, p in enumerate(outputs))
        if self.extra_pool:
            pyramid["pool"] = F.max_pool2d(outputs[-1], kernel_size=1, stride=2, padding=0)
        return pyramid


class BackboneWithFPN(nn.Module):
    """``body`` (image -> list or dict of stage features, fine to coarse) followed by an FPN.

    ``out_channels`` is the pyramid's channel count, which the RPN and RoI heads read (torchvision convention).
    """

    def __init__(self, body: nn.Module, in_channels_list: list[int], out_channels: int = 256) -> None:
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(in_channels_list, out_channels)
        self.out_channels = out_channels

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """(N, 3, H, W) -> {"0": stride 4, "1": 8, "2": 16, "3": 32, "pool": 64}, each (N, out_channels, h, w)."""
        stages = self.body(images)
        if isinstance(stages, dict):
            stages = list(stages.values())
        return self.fpn(stages)
