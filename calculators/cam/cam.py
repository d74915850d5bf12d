"""Class activation maps (Zhou et al. 2016) and their post-processing, as pure functions.

For a network ending in conv features f_k(x, y) -> global average pooling -> linear layer (w^c, b_c), the logit of
class c is ``S_c = sum_k w_k^c * mean_xy f_k(x, y) + b_c``, so ``S_c = mean_xy M_c(x, y) + b_c`` with the class
activation map ``M_c(x, y) = sum_k w_k^c f_k(x, y)``: one small matmul on features already computed by the forward
pass. The weakly supervised box follows the paper's protocol: keep the pixels above 20% of the map's maximum, take
the box around the largest connected component. ``box_from_map`` also takes the threshold and a component rule
(the box around every component at least a given fraction of the largest's area), the defaults the
``ClassActivationMap`` node chose on COCO photos (``benchmarks/cam_localization.py``).

Grad-CAM (Selvaraju et al. 2017) is the fallback for layers that are not followed by GAP + linear:
``ReLU(sum_k alpha_k^c A_k)`` with ``alpha_k^c = mean_xy dS_c / dA_k(x, y)``. On a GAP net the gradient is
``w_k^c / (h * w)`` everywhere, so Grad-CAM = ReLU(M_c) / (h * w) (checked in the tests).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

BOX_THRESHOLD = 0.2  # "above 20% of the max value of the CAM" (Zhou et al. 2016, Sec. 4.1)
LARGEST_COMPONENT_ONLY = 1.0  # component_fraction of the paper's rule: the box of the largest component alone


def class_activation_maps(features: torch.Tensor, fc_weight: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """M_c for each requested class.

    features: (C, h, w) conv features before global average pooling (one image).
    fc_weight: (num_classes, C) weight of the linear layer after pooling.
    classes: (K,) int64 class indices.
    Returns (K, h, w) float: ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` (raw, may be negative; no bias).
    """
    C, h, w = features.shape
    if fc_weight.shape[1] != C:
        raise ValueError(f"fc weight has {fc_weight.shape[1]} inputs, features have {C} channels")
    weights = fc_weight[classes]  # (K, C)
    return (weights @ features.reshape(C, h * w)).reshape(len(classes), h, w)


def grad_cam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM from a layer's activations and the gradient of one class score with respect to them.

    activations, gradients: (C, h, w). Returns (h, w) ``ReLU(sum_k alpha_k A_k)``, alpha_k = spatial mean of the
    gradient of channel k.
    """
    alpha = gradients.mean(dim=(1, 2))  # (C,)
    return torch.relu(torch.einsum("c,chw->hw", alpha, activations))


def normalize_maps(maps: np.ndarray) -> np.ndarray:
    """Min-max normalise each map to [0, 1]. maps: (K, h, w) -> (K, h, w) float32; a constant map becomes 0."""
    maps = np.asarray(maps, dtype=np.float32)
    flat = maps.reshape(len(maps), -1)
    lo = flat.min(axis=1, initial=np.inf)[:, None, None] if flat.size else np.zeros((len(maps), 1, 1), np.float32)
    hi = flat.max(axis=1, initial=-np.inf)[:, None, None] if flat.size else np.zeros((len(maps), 1, 1), np.float32)
    span = hi - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def upsample_maps(maps: np.ndarray, image_size: tuple[int, int],
                  region: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Resize maps to an image, bilinearly, placing them on the image region the network saw.

    maps: (K, h, w) float. image_size: (H, W). region: [x1, y1, x2, y2] pixels of the image the network's input
    covered (the centre crop); None = the whole image. Pixels outside the region are 0.
    Returns (K, H, W) float32.
    """
    H, W = image_size
    out = np.zeros((len(maps), H, W), np.float32)
    x1, y1, x2, y2 = (0.0, 0.0, float(W), float(H)) if region is None else region
    c0, r0 = int(round(x1)), int(round(y1))
    c1, r1 = min(int(round(x2)), W), min(int(round(y2)), H)
    if c1 <= c0 or r1 <= r0:
        return out
    for i, m in enumerate(np.asarray(maps, np.float32)):
        out[i, r0:r1, c0:c1] = cv2.resize(m, (c1 - c0, r1 - r0), interpolation=cv2.INTER_LINEAR)
    return out


def box_from_map(cam: np.ndarray, threshold: float = BOX_THRESHOLD,
                 component_fraction: float = LARGEST_COMPONENT_ONLY) -> np.ndarray:
    """The weakly supervised box of one map.

    cam: (H, W) float, raw (unnormalised) or [0, 1]. Keeps pixels >= ``threshold * max`` (the paper: 20% of the
    maximum of the raw map), labels their 8-connected components and returns the box (4,) float32
    [x1, y1, x2, y2] pixels (x2/y2 exclusive) around the largest component and every other component whose area is
    at least ``component_fraction`` of the largest's (1.0 = the paper's largest component only; an object that
    the map splits into pieces is boxed whole at lower fractions). A map whose max is <= 0 has no foreground: the
    box is all zeros.
    """
    peak = float(cam.max()) if cam.size else 0.0
    if peak <= 0:
        return np.zeros(4, np.float32)
    mask = (cam >= threshold * peak).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # row 0 of stats is the background; each row is (x, y, width, height, area)
    components = stats[1:count]
    areas = components[:, cv2.CC_STAT_AREA]
    largest = int(np.argmax(areas))
    if component_fraction < LARGEST_COMPONENT_ONLY:
        chosen = areas >= component_fraction * areas[largest]
    else:
        chosen = np.arange(len(areas)) == largest
    kept = components[chosen]
    x1, y1 = kept[:, 0].min(), kept[:, 1].min()
    x2, y2 = (kept[:, 0] + kept[:, 2]).max(), (kept[:, 1] + kept[:, 3]).max()
    return np.array([x1, y1, x2, y2], np.float32)


def boxes_from_maps(cams: np.ndarray, threshold: float = BOX_THRESHOLD,
                    component_fraction: float = LARGEST_COMPONENT_ONLY) -> np.ndarray:
    """(K, H, W) maps -> (K, 4) float32 boxes [x1, y1, x2, y2], one per map (see ``box_from_map``)."""
    if not len(cams):
        return np.zeros((0, 4), np.float32)
    return np.stack([box_from_map(c, threshold, component_fraction) for c in cams])
