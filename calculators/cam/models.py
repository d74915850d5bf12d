"""The classifiers the CAM node can explain, each described as a ``GapClassifier`` (features, GAP, linear)."""

from __future__ import annotations

from .efficientnet_lite import load_efficientnet_lite0
from .explainer import GapClassifier
from .imagenet_names import imagenet_class_names


def efficientnet_lite0_classifier(pretrained: bool = True) -> GapClassifier:
    """ImageNet EfficientNet-Lite0: (1, 3, 224, 224) -> features (1, 1280, 7, 7) -> mean -> fc (1000)."""
    net = load_efficientnet_lite0(pretrained)
    return GapClassifier(features=net.forward_features, linear=net.classifier, class_names=imagenet_class_names(),
                         module=net)
