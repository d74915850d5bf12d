"""The Fast R-CNN box branch of Mask R-CNN with FPN: two FC layers, then class scores and class-specific deltas.

Names (``fc6``, ``fc7``, ``cls_score``, ``bbox_pred``) match torchvision's ``TwoMLPHead``/``FastRCNNPredictor``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class TwoMLPHead(nn.Module):
    """(K, C, 7, 7) pooled features -> (K, representation_size)."""

    def __init__(self, in_features: int, representation_size: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_features, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.fc6(x.flatten(start_dim=1)))
        return F.relu(self.fc7(x))


class FastRCNNPredictor(nn.Module):
    """(K, D) -> class logits (K, num_classes) and per-class box deltas (K, num_classes * 4)."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_features, num_classes)
        self.bbox_pred = nn.Linear(in_features, num_classes * 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_score(x), self.bbox_pred(x)
