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


HAND_CLASS_NAMES = ("hand presence", "left hand")  # handedness: P(left hand) in a mirrored (selfie) frame


def hand_landmark_classifier(variant: str = "full") -> GapClassifier:
    """MediaPipe's hand landmark network seen through its two scalar heads, each global mean -> fully connected:
    (1, 3, 224, 224) crop in [0, 1] -> features (1, C, 7, 7) -> mean -> [presence, handedness] logits (sigmoid).

    The two ``nn.Linear(C, 1)`` heads are stacked into one ``nn.Linear(C, 2)`` (weights copied, shapes checked), so
    the maps answer "where does the network look when it decides hand presence / handedness".
    """
    import torch
    from torch import nn

    from calculators.model_store import load_hand_landmark

    net = load_hand_landmark(variant)
    heads = (net.fc_presence, net.fc_handedness)
    channels = heads[0].in_features
    linear = nn.Linear(channels, len(heads))
    with torch.no_grad():
        for i, head in enumerate(heads):
            if head.weight.shape != (1, channels):
                raise ValueError(f"head {i} weight {tuple(head.weight.shape)}, expected (1, {channels})")
            linear.weight[i] = head.weight[0]
            linear.bias[i] = head.bias[0]
    return GapClassifier(features=net.forward_features, linear=linear, class_names=HAND_CLASS_NAMES, module=net,
                         multi_label=True)
