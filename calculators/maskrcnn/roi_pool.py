"""RoIPool of Fast R-CNN (Girshick 2015): the quantised pooling that RoIAlign replaces.

The RoI is rounded to whole feature cells, split into (ph, pw) bins whose edges are rounded again (floor for
the start, ceil for the end), and each bin takes the max of its cells. Both roundings misalign the pooled
features with the RoI by up to a cell, which is what Mask R-CNN's RoIAlign fixes (He et al. 2017, section 3).
Semantics follow torchvision's ``roi_pool`` kernel: C's round-half-away-from-zero for the corners, RoIs of
at least one cell, empty bins (after clipping to the map) give 0.

Bins have different sizes per RoI, so this loops over RoIs (each RoI is a few vectorised ops on its crop). It is
selectable for ablations (``MaskRCNNConfig.roi_pool = "pool"``), not the default path.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _round_half_away(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _bin_edges(start: int, extent: int, bins: int, size: int) -> tuple[list[int], list[int]]:
    """Quantised [begin, end) cell ranges of ``bins`` bins over ``extent`` cells from ``start``, clipped to the map."""
    bin_size = torch.tensor(extent, dtype=torch.float32) / bins
    cells = torch.arange(bins, dtype=torch.float32)
    begin = (torch.floor(cells * bin_size).to(torch.int64) + start).clamp(0, size)
    end = (torch.ceil((cells + 1) * bin_size).to(torch.int64) + start).clamp(0, size)
    return begin.tolist(), end.tolist()


def roi_pool(features: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float = 1.0) -> Tensor:
    """(N, C, H, W) features, (K, 5) rois [batch_index, x1, y1, x2, y2] in pixels -> (K, C, ph, pw) bin maxima."""
    _, channels, height, width = features.shape
    out_h, out_w = output_size
    corners = _round_half_away(rois[:, 1:].detach() * spatial_scale).to(torch.int64).tolist()
    pooled = []
    for roi, (x1, y1, x2, y2) in zip(rois, corners, strict=True):
        fmap = features[int(roi[0])]
        ys, ye = _bin_edges(y1, max(y2 - y1 + 1, 1), out_h, height)
        xs, xe = _bin_edges(x1, max(x2 - x1 + 1, 1), out_w, width)
        rows = torch.arange(height)
        cols = torch.arange(width)
        row_in = (rows[None, :] >= torch.tensor(ys)[:, None]) & (rows[None, :] < torch.tensor(ye)[:, None])  # (ph, H)
        col_in = (cols[None, :] >= torch.tensor(xs)[:, None]) & (cols[None, :] < torch.tensor(xe)[:, None])  # (pw, W)
        lo_r, hi_r = min(ys), max(ye)
        lo_c, hi_c = min(xs), max(xe)
        if hi_r <= lo_r or hi_c <= lo_c:
            pooled.append(fmap.new_zeros((channels, out_h, out_w)))
            continue
        crop = fmap[:, lo_r:hi_r, lo_c:hi_c]  # (C, h, w)
        row_in, col_in = row_in[:, lo_r:hi_r], col_in[:, lo_c:hi_c]
        neg = torch.finfo(fmap.dtype).min
        by_row = crop[:, None, :, :].masked_fill(~row_in[None, :, :, None], neg).amax(dim=2)  # (C, ph, w)
        by_bin = by_row[:, :, None, :].masked_fill(~col_in[None, None, :, :], neg).amax(dim=3)  # (C, ph, pw)
        empty = ~(row_in.any(dim=1)[:, None] & col_in.any(dim=1)[None, :])  # (ph, pw)
        pooled.append(by_bin.masked_fill(empty[None], 0.0))
    if not pooled:
        return features.new_zeros((0, channels, out_h, out_w))
    return torch.stack(pooled)
