"""MediaPipe's palm detector (``palm_detection_{lite,full}.tflite``, v0.10.21) as a plain PyTorch module.

A BlazePalm network: a 5x5 stride-2 stem, five stages of BlazeBlocks (depthwise 5x5 -> pointwise 1x1 -> residual
add -> PReLU) from 96x96 down to 6x6, then a two-step top-down path (bilinear x2 upsample, 1x1 conv + PReLU, add
the backbone's feature map of that size, two BlazeBlocks) with SSD heads on the 12x12 and 24x24 maps. The lite and
full models differ only in the number of residual blocks per stage (3 and 4).

Weights come from the .tflite files through ``calculators/hands/tflite_convert.py``; BatchNorm is already folded
into the conv biases there, so every conv here has a bias and nothing needs fusing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from calculators.common.tf_padding import Conv2dSame


@dataclass(frozen=True)
class PalmDetectorConfig:
    """Shape of one palm detector variant."""

    blocks_per_stage: int  # residual BlazeBlocks after each stage's entry (lite 3, full 4)
    input_size: int = 192
    stage_channels: tuple[int, ...] = (32, 64, 128, 256, 256)  # at 96, 48, 24, 12, 6 pixels
    anchors_12: int = 6  # anchors per cell of the 12x12 map (SsdAnchors: 3 equal-stride layers x 2, merged)
    anchors_24: int = 2  # anchors per cell of the 24x24 map
    num_coords: int = 18  # box (xc, yc, w, h) + 7 keypoints (x, y), in pixels of the 192x192 input


PALM_CONFIGS: dict[str, PalmDetectorConfig] = {
    "lite": PalmDetectorConfig(blocks_per_stage=3),
    "full": PalmDetectorConfig(blocks_per_stage=4),
}


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pool with stride 2 of (B, C, H, W), H and W even -> (B, C, H/2, W/2).

    PyTorch's CPU max_pool2d kernel for NCHW tensors is 10-40x slower than its channels_last one at these sizes;
    for NCHW the elementwise max of the four strided sub-grids gives the same values much faster.
    """
    if x.is_contiguous(memory_format=torch.channels_last):
        return F.max_pool2d(x, 2, 2)
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class BlazeBlock(nn.Module):
    """``prelu(pw(dw(x)) + shortcut(x))``; the shortcut is identity, or for stride 2 a 2x2 max pool whose channels
    are zero-padded up to ``out_channels`` (TFLite: MAX_POOL_2D + PAD on the channel axis).

    (B, in_channels, H, W) -> (B, out_channels, H/stride, W/stride)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"a stride-1 BlazeBlock keeps its width, got {in_channels} -> {out_channels}")
        self.stride = stride
        self.extra_channels = out_channels - in_channels
        self.dw = Conv2dSame(in_channels, in_channels, 5, stride=stride, groups=in_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, 1)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pw(self.dw(x))
        shortcut = x
        if self.stride == 2:
            shortcut = max_pool_2x2(x)  # k2 s2 on even sizes: TF SAME adds no padding
            if self.extra_channels:
                shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return self.act(h.add_(shortcut))  # h is this block's fresh tensor: add in place


def blaze_stage(in_channels: int, out_channels: int, num_residual: int, stride: int) -> nn.Sequential:
    """An entry BlazeBlock (stride, width change) followed by ``num_residual`` stride-1 blocks."""
    blocks = [BlazeBlock(in_channels, out_channels, stride)]
    blocks += [BlazeBlock(out_channels, out_channels) for _ in range(num_residual)]
    return nn.Sequential(*blocks)


class UpsampleFuse(nn.Module):
    """Top-down step: ``skip + prelu(conv1x1(upsample_x2(x)))``.

    x (B, in_channels, H, W), skip (B, out_channels, 2H, 2W) -> (B, out_channels, 2H, 2W). The upsampling is
    TFLite's RESIZE_BILINEAR with half_pixel_centers=True, i.e. ``align_corners=False`` in torch.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return skip + self.act(self.conv(up))


def _flatten_head(t: torch.Tensor, values_per_anchor: int) -> torch.Tensor:
    """(B, A*V, H, W) -> (B, H*W*A, V), anchors ordered row, column, anchor (TFLite reshapes NHWC data)."""
    b = t.shape[0]
    return t.permute(0, 2, 3, 1).reshape(b, -1, values_per_anchor)


class PalmDetector(nn.Module):
    """Palm detector: 192x192 RGB image -> raw SSD regressors and logits for 2016 anchors.

    Input: (B, 3, 192, 192) float32, NCHW, RGB, values in [0, 1] (MediaPipe's ImageToTensor ``range 0..1``; the
    image is letterboxed with zeros to a square before resizing). TFLite's input is the same tensor in NHWC.

    Outputs, in the TFLite order and semantics (``Identity``, ``Identity_1``):
      regressors (B, 2016, 18) float32 - raw box and keypoint offsets in pixels of the 192x192 input, per anchor:
        x_center, y_center, w, h, then 7 keypoints (x, y); relative to the anchor centre (decode: ``raw/192 +
        anchor``); anchors 0..1151 are the 24x24 map (2 per cell), 1152..2015 the 12x12 map (6 per cell),
        each ordered row-major then by anchor.
      logits (B, 2016, 1) float32 - raw palm scores (apply sigmoid; MediaPipe clips them to +-100 first).
    """

    def __init__(self, config: PalmDetectorConfig) -> None:
        super().__init__()
        self.config = config
        # Layout the convs run in. channels_last is 1.15-1.3x faster on CPU (benchmarks/hand_models.py), but its
        # 1x1-conv GEMMs round differently and the full model's regressors then drift up to 1.2e-3 px from LiteRT
        # (NCHW: <= 4e-4; both stay within ~1e-3 of a float64 run). NCHW keeps the 1e-3 LiteRT parity bound; set
        # channels_last for speed.
        self.memory_format = torch.contiguous_format
        c1, c2, c3, c4, c5 = config.stage_channels
        n = config.blocks_per_stage
        self.stem = Conv2dSame(3, c1, 5, stride=2)  # 192 -> 96
        self.stem_act = nn.PReLU(c1)
        self.stage1 = nn.Sequential(*[BlazeBlock(c1, c1) for _ in range(n)])  # 96
        self.stage2 = blaze_stage(c1, c2, n, stride=2)  # 48
        self.stage3 = blaze_stage(c2, c3, n, stride=2)  # 24
        self.stage4 = blaze_stage(c3, c4, n, stride=2)  # 12
        self.stage5 = blaze_stage(c4, c5, n, stride=2)  # 6
        self.up12 = UpsampleFuse(c5, c4)
        self.blocks12 = nn.Sequential(BlazeBlock(c4, c4), BlazeBlock(c4, c4))
        self.up24 = UpsampleFuse(c4, c3)
        self.blocks24 = nn.Sequential(BlazeBlock(c3, c3), BlazeBlock(c3, c3))
        self.classifier_12 = nn.Conv2d(c4, config.anchors_12, 1)
        self.regressor_12 = nn.Conv2d(c4, config.anchors_12 * config.num_coords, 1)
        self.classifier_24 = nn.Conv2d(c3, config.anchors_24, 1)
        self.regressor_24 = nn.Conv2d(c3, config.anchors_24 * config.num_coords, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 192, 192) in [0, 1] -> regressors (B, 2016, 18), logits (B, 2016, 1)."""
        x = x.contiguous(memory_format=self.memory_format)
        x = self.stem_act(self.stem(x))  # (B, 32, 96, 96)
        x = self.stage1(x)
        x = self.stage2(x)  # (B, 64, 48, 48)
        f24 = self.stage3(x)  # (B, 128, 24, 24)
        f12 = self.stage4(f24)  # (B, 256, 12, 12)
        f6 = self.stage5(f12)  # (B, 256, 6, 6)
        p12 = self.blocks12(self.up12(f6, f12))  # (B, 256, 12, 12)
        p24 = self.blocks24(self.up24(p12, f24))  # (B, 128, 24, 24)
        k = self.config.num_coords
        regressors = torch.cat([_flatten_head(self.regressor_24(p24), k),  # (B, 1152, 18)
                                _flatten_head(self.regressor_12(p12), k)], dim=1)  # (B, 864, 18)
        logits = torch.cat([_flatten_head(self.classifier_24(p24), 1),
                            _flatten_head(self.classifier_12(p12), 1)], dim=1)
        return regressors, logits
