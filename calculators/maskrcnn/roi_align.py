"""RoIAlign (He et al. 2017, section 3): bilinear sampling of a feature map at regularly spaced points inside
each RoI bin, with no rounding of the RoI or bin edges, averaged per bin.

Semantics follow torchvision's ``roi_align`` kernel exactly:

- RoI corners are multiplied by ``spatial_scale``; with ``aligned=True`` half a pixel is subtracted first, so that
  a box edge at pixel x samples the feature at continuous coordinate x - 0.5 (pixel centres at integers).
  With ``aligned=False`` (Mask R-CNN's original code and torchvision's ``MultiScaleRoIAlign``) there is no shift and
  RoIs narrower than one cell are widened to one cell.
- Each of the (ph, pw) bins holds gh x gw samples at its sub-cell centres; gh = ``sampling_ratio`` or, when that
  is <= 0, ceil(roi_height / ph) per RoI (likewise gw).
- A sample outside [-1, H] x [-1, W] contributes 0; otherwise its coordinates are clamped to >= 0 and it is
  bilinearly interpolated, with the last row/column repeated past the edge. A bin is the mean of its gh * gw samples.

Vectorised form: every output value is a weighted sum of feature cells, so the whole operation is one sparse
(K * ph * pw, N * H * W) matrix times the (N * H * W, C) channels-last features. Interpolation weights are separable
(a y weight times an x weight, and validity is y-valid times x-valid), so the matrix is built from per-axis tap
tables by broadcasting. Gradients flow to the features (sparse @ dense backward), not to the boxes.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _sample_positions(start: Tensor, length: Tensor, grid: Tensor, bins: int, size: int) -> tuple[Tensor, Tensor]:
    """Sample coordinates along one axis: the one rule both RoIAlign paths use.

    start, length: (K,) RoI start and extent in feature cells; grid: (K,) samples per bin; bins: output cells.
    Returns (pos, valid), each (K, bins, G): the coordinate of every sample slot (bin b, slot g at
    start + (b + (g + 0.5) / grid) * length / bins), and whether it contributes (inside [-1, size], g < grid).
    """
    num_slots = max(int(grid.max().item()), 1) if grid.numel() else 1
    bin_size = length / bins
    cell = torch.arange(bins, dtype=start.dtype)[None, :, None]  # (1, bins, 1)
    slot = torch.arange(num_slots, dtype=start.dtype)[None, None, :]  # (1, 1, G)
    grid_f = grid.to(start.dtype)[:, None, None]
    pos = start[:, None, None] + cell * bin_size[:, None, None] + (slot + 0.5) * bin_size[:, None, None] / grid_f
    valid = (pos >= -1.0) & (pos <= size) & (slot < grid_f)  # (K, bins, G)
    return pos, valid


def _axis_taps(start: Tensor, length: Tensor, grid: Tensor, bins: int, size: int) -> tuple[Tensor, Tensor]:
    """Bilinear taps along one axis (arguments as ``_sample_positions``).

    Returns (index, weight), each (K, bins, G, 2): for every bin and sample slot the two neighbouring cell indices
    and their weights (0 for samples outside the map or slots beyond the RoI's own ``grid``).
    """
    pos, valid = _sample_positions(start, length, grid, bins, size)
    pos = pos.clamp(min=0)
    low = pos.floor().to(torch.int64)
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    frac = torch.where(at_edge, torch.zeros_like(pos), pos - low.to(pos.dtype))
    index = torch.stack((low, high), dim=-1)
    weight = torch.stack((1 - frac, frac), dim=-1) * valid[..., None].to(pos.dtype)
    return index, weight


MAX_TAPS_PER_CHUNK = 1 << 22  # bounds the sparse matrix (and its index tensors) built at once


def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """(N, C, H, W) features, (K, 5) rois [batch_index, x1, y1, x2, y2] in image pixels -> (K, C, ph, pw).

    At inference a fixed ``sampling_ratio`` > 0 (the detector's pooling) runs separably, as batched matmuls
    over RoIs of similar window size (``_roi_align_fixed_grid``). With gradients, or with adaptive sampling
    (``sampling_ratio`` <= 0, e.g. projecting full-resolution masks to 28x28), the sparse matrix of the module
    docstring is built in chunks of at most ``MAX_TAPS_PER_CHUNK`` taps (``_roi_align_chunk``, which handles
    both cases). Both paths read the samples of ``_axis_taps``, and the tests compare them.
    """
    num_images, channels, height, width = features.shape
    out_h, out_w = output_size
    if rois.shape[0] == 0:
        return features.new_zeros((0, channels, out_h, out_w))
    rois = rois.detach().to(features.dtype)
    if sampling_ratio > 0 and not (torch.is_grad_enabled() and features.requires_grad):
        # inference with one sample grid for every RoI: separable batched matmuls (training keeps the sparse
        # matrix: its backward is one sparse product)
        return _roi_align_fixed_grid(features, rois, output_size, spatial_scale, sampling_ratio, aligned)
    # otherwise one sparse sampling matrix per chunk of RoIs
    if sampling_ratio > 0:
        taps = torch.full((rois.shape[0],), 4 * out_h * out_w * sampling_ratio**2)
    else:
        extent = (rois[:, 3:5] - rois[:, 1:3]) * spatial_scale
        grid = torch.ceil(extent.clamp(min=1.0) / torch.tensor([out_w, out_h], dtype=rois.dtype))
        taps = 4 * out_h * out_w * grid.prod(dim=1).clamp(min=1)
    chunks, start, acc = [], 0, 0.0
    for index, count in enumerate(taps.tolist()):
        if acc + count > MAX_TAPS_PER_CHUNK and index > start:
            chunks.append((start, index))
            start, acc = index, 0.0
        acc += count
    chunks.append((start, rois.shape[0]))
    pooled = [
        _roi_align_chunk(features, rois[a:b], output_size, spatial_scale, sampling_ratio, aligned) for a, b in chunks
    ]
    return pooled[0] if len(pooled) == 1 else torch.cat(pooled)


def _roi_geometry(rois: Tensor, spatial_scale: float, aligned: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(K, 5) rois -> x1, y1, width, height (K,) each in feature cells (half-pixel shift, minimum size 1 cell)."""
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - x1
    roi_h = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    return x1, y1, roi_w, roi_h


def _axis_matrix(taps: tuple[Tensor, Tensor], size: int) -> Tensor:
    """Per-axis taps (index, weight), each (K, bins, G, 2) -> dense (K, bins, size) interpolation matrices."""
    index, weight = taps
    num, bins = index.shape[:2]
    dense = weight.new_zeros((num, bins, size))
    return dense.scatter_add_(2, index.reshape(num, bins, -1), weight.reshape(num, bins, -1))


WINDOW_STEP = 4  # RoI windows are padded to multiples of this many cells, so RoIs of similar size share one batch
MAX_WINDOW_VALUES = 1 << 22  # bounds the gathered windows (floats) of one batched product


def _roi_align_fixed_grid(
    features: Tensor,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> Tensor:
    """RoIAlign with ``sampling_ratio`` > 0, separably and batched over RoIs: out[k] = A_y[k] . F_k . A_x[k]^T.

    A sample's weight is (y weight x y-valid) times (x weight x x-valid), so the bin average is a product of a
    (ph, h) matrix per axis, built from the same ``_axis_taps`` as the sparse path, with F_k the (h, w) window of
    cells that RoI k's taps touch with non-zero weight. RoIs are grouped by window size (rounded up to
    ``WINDOW_STEP`` cells); per group the windows are gathered at once from channels-last features (rows of C
    contiguous values) and both products are batched matrix multiplies. Padding cells get zero weight.
    """
    num_images, channels, height, width = features.shape
    out_h, out_w = output_size
    num_rois = rois.shape[0]
    x1, y1, roi_w, roi_h = _roi_geometry(rois, spatial_scale, aligned)
    grid = torch.full((num_rois,), sampling_ratio, dtype=torch.int64)
    y_index, y_weight = _axis_taps(y1, roi_h, grid, out_h, height)  # (K, ph, G, 2)
    x_index, x_weight = _axis_taps(x1, roi_w, grid, out_w, width)
    y_index, y_weight = y_index.reshape(num_rois, out_h, -1), y_weight.reshape(num_rois, out_h, -1) / sampling_ratio
    x_index, x_weight = x_index.reshape(num_rois, out_w, -1), x_weight.reshape(num_rois, out_w, -1) / sampling_ratio
    y_lo, y_len = _live_window(y_index, y_weight)
    x_lo, x_len = _live_window(x_index, x_weight)
    y_pad = (y_len + WINDOW_STEP - 1) // WINDOW_STEP * WINDOW_STEP
    x_pad = (x_len + WINDOW_STEP - 1) // WINDOW_STEP * WINDOW_STEP
    batch = rois[:, 0].to(torch.int64)
    group_of_roi = (batch * (height + WINDOW_STEP) + y_pad) * (width + WINDOW_STEP) + x_pad
    # channels-last rows: a view when the features already are (the R50 body's in eval mode), else one copy
    cells = features.permute(0, 2, 3, 1).reshape(num_images * height * width, channels)
    out = features.new_empty((num_rois, out_w, out_h, channels))
    for group in torch.unique(group_of_roi).tolist():
        members = torch.where(group_of_roi == group)[0]
        win_h, win_w = int(y_pad[members[0]]), int(x_pad[members[0]])
        per_batch = max(1, MAX_WINDOW_VALUES // (win_h * win_w * channels))
        for first in range(0, len(members), per_batch):
            m = members[first : first + per_batch]
            ys = (y_lo[m, None] + torch.arange(win_h)).clamp(max=height - 1)  # (k, win_h); padding rows: weight 0
            xs = (x_lo[m, None] + torch.arange(win_w)).clamp(max=width - 1)
            flat = batch[m, None, None] * (height * width) + ys[:, None, :] * width + xs[:, :, None]  # (k, w, h)
            windows = cells.index_select(0, flat.reshape(-1)).reshape(len(m), win_w, win_h * channels)
            # taps in window coordinates; zero-weight taps (outside the map, unused slots) may fall outside it
            x_local = (x_index[m] - x_lo[m, None, None]).clamp(0, win_w - 1)
            y_local = (y_index[m] - y_lo[m, None, None]).clamp(0, win_h - 1)
            cols = x_weight.new_zeros((len(m), out_w, win_w)).scatter_add_(2, x_local, x_weight[m])
            rows = y_weight.new_zeros((len(m), out_h, win_h)).scatter_add_(2, y_local, y_weight[m])
            across = torch.bmm(cols, windows).reshape(len(m) * out_w, win_h, channels)  # x interpolated
            rows = rows[:, None].expand(len(m), out_w, out_h, win_h).reshape(len(m) * out_w, out_h, win_h)
            out[m] = torch.bmm(rows, across).reshape(len(m), out_w, out_h, channels)
    return out.permute(0, 3, 2, 1).contiguous()


def _live_window(index: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """(K, bins, T) tap indices and weights -> first cell and extent (K,) of the taps with non-zero weight
    (a RoI with none gets the window [0, 1), all zero weight)."""
    live = weight != 0
    lo = torch.where(live, index, torch.iinfo(torch.int64).max).flatten(1).amin(1)
    hi = torch.where(live, index, -1).flatten(1).amax(1) + 1
    empty = hi <= 0
    return torch.where(empty, 0, lo), torch.where(empty, 1, hi - lo)


def _roi_align_chunk(
    features: Tensor,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> Tensor:
    num_images, channels, height, width = features.shape
    out_h, out_w = output_size
    num_rois = rois.shape[0]
    x1, y1, roi_w, roi_h = _roi_geometry(rois, spatial_scale, aligned)
    if sampling_ratio > 0:
        grid_h = torch.full((num_rois,), sampling_ratio, dtype=torch.int64)
        grid_w = grid_h
    else:
        grid_h = torch.ceil(roi_h / out_h).to(torch.int64)
        grid_w = torch.ceil(roi_w / out_w).to(torch.int64)
    count = (grid_h * grid_w).clamp(min=1).to(features.dtype)  # samples averaged per bin

    y_idx, y_wt = _axis_taps(y1, roi_h, grid_h, out_h, height)  # (K, ph, Gy, 2)
    x_idx, x_wt = _axis_taps(x1, roi_w, grid_w, out_w, width)  # (K, pw, Gx, 2)
    batch = rois[:, 0].to(torch.int64)
    # broadcast to (K, ph, pw, Gy, 2, Gx, 2): one output cell's taps are contiguous, taps_per_cell of them
    y_idx, y_wt = y_idx[:, :, None, :, :, None, None], y_wt[:, :, None, :, :, None, None]
    x_idx, x_wt = x_idx[:, None, :, None, None, :, :], x_wt[:, None, :, None, None, :, :]
    taps_per_cell = y_idx.shape[3] * 2 * x_idx.shape[5] * 2
    cols = (batch[:, None, None, None, None, None, None] * (height * width) + y_idx * width + x_idx).reshape(-1)
    weight = (y_wt * x_wt / count[:, None, None, None, None, None, None]).reshape(-1)
    if sampling_ratio > 0:
        rows = torch.arange(num_rois * out_h * out_w).repeat_interleave(taps_per_cell)
    else:  # per-RoI grids are padded to the largest: drop the padding slots (zero weight)
        kept = weight.nonzero().squeeze(1)
        rows, cols, weight = kept // taps_per_cell, cols[kept], weight[kept]
    sampler = torch.sparse_coo_tensor(
        torch.stack((rows, cols)),
        weight,
        size=(num_rois * out_h * out_w, num_images * height * width),
        check_invariants=False,
    )  # not coalesced: duplicate (row, col) taps are summed by the product, about 2x faster than coalescing first
    flat = features.permute(0, 2, 3, 1).reshape(num_images * height * width, channels)  # (N*H*W, C)
    pooled = torch.sparse.mm(sampler, flat)  # (K*ph*pw, C)
    return pooled.reshape(num_rois, out_h, out_w, channels).permute(0, 3, 1, 2).contiguous()
