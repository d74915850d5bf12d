"""CAM identities on the real network, Grad-CAM fallback, map post-processing and the box protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calculators.cam.cam import (
    box_from_map,
    boxes_from_maps,
    class_activation_maps,
    grad_cam,
    normalize_maps,
    upsample_maps,
)
from calculators.cam.efficientnet_lite import load_efficientnet_lite0
from calculators.cam.explainer import CamExplainer, GapClassifier
from calculators.cam.imagenet_names import imagenet_class_names
from calculators.cam.preprocess import preprocess_imagenet


@pytest.fixture(scope="module")
def lite0_double():
    """The ImageNet network in float64, so identities hold far below the tolerances."""
    net = load_efficientnet_lite0().double()
    return GapClassifier(net.forward_features, net.classifier, imagenet_class_names(), module=net)


def test_spatial_mean_of_cam_plus_bias_is_the_logit(lite0_classifier, chelsea):
    x, _ = preprocess_imagenet(chelsea)
    with CamExplainer(lite0_classifier) as explainer:
        out = explainer.explain(x, top_k=5)
    bias = lite0_classifier.linear.bias.detach().numpy()
    recon = out.maps.mean(axis=(1, 2)) + bias[out.classes]
    np.testing.assert_allclose(recon, out.logits[out.classes], atol=1e-4, rtol=0)
    assert out.maps.shape == (5, 7, 7)
    assert list(out.classes) == list(np.argsort(-out.logits)[:5])


def test_grad_cam_on_a_gap_net_is_relu_cam_over_hw(lite0_double, chelsea):
    x, _ = preprocess_imagenet(chelsea)
    x = x.double()
    classes = [281, 282, 967, 0]
    with CamExplainer(lite0_double) as cam_explainer:
        cam = cam_explainer.explain(x, classes=classes)
    with CamExplainer(lite0_double, grad_cam_layer="head_act") as grad_explainer:
        grad = grad_explainer.explain(x, classes=classes)
    h, w = cam.maps.shape[1:]
    expected = np.maximum(cam.maps, 0) / (h * w)
    np.testing.assert_allclose(grad.maps, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(grad.logits, cam.logits, atol=1e-6)


def test_grad_cam_on_an_inner_layer_with_frozen_weights(lite0_classifier, coffee):
    """Any submodule works as the Grad-CAM layer; frozen parameters still give gradients there."""
    x, _ = preprocess_imagenet(coffee)
    lite0_classifier.module.requires_grad_(False)
    try:
        with CamExplainer(lite0_classifier, grad_cam_layer="_blocks.10") as explainer:
            out = explainer.explain(x, top_k=2)
    finally:
        lite0_classifier.module.requires_grad_(True)
    assert out.maps.shape == (2, 14, 14)  # stride-16 layer
    assert (out.maps >= 0).all() and out.maps.max() > 0
    assert out.classes[0] == 967


def test_hook_is_removed_on_close(lite0_classifier):
    layer = lite0_classifier.module.get_submodule("_blocks.10")
    explainer = CamExplainer(lite0_classifier, grad_cam_layer="_blocks.10")
    assert len(layer._forward_hooks) == 1
    explainer.close()
    assert len(layer._forward_hooks) == 0
    explainer.close()  # idempotent
    with pytest.raises(AttributeError):
        CamExplainer(lite0_classifier, grad_cam_layer="_blocks.99")


def test_class_activation_maps_is_the_weighted_channel_sum():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(6, 3, 4, generator=gen)
    weight = torch.randn(10, 6, generator=gen)
    maps = class_activation_maps(features, weight, torch.tensor([3, 7]))
    for k, c in enumerate((3, 7)):
        expected = sum(weight[c, j] * features[j] for j in range(6))
        torch.testing.assert_close(maps[k], expected)
    with pytest.raises(ValueError):
        class_activation_maps(features, weight[:, :5], torch.tensor([0]))


def test_grad_cam_formula():
    activations = torch.arange(8.0).reshape(2, 2, 2)
    gradients = torch.stack([torch.full((2, 2), 1.0), torch.full((2, 2), -2.0)])
    # alpha = (1, -2): A0 - 2 A1 = [0,1,2,3] - 2 [4,5,6,7] < 0 everywhere -> ReLU gives 0
    assert torch.equal(grad_cam(activations, gradients), torch.zeros(2, 2))
    torch.testing.assert_close(grad_cam(activations, -gradients), 2 * activations[1] - activations[0])


def test_normalize_and_upsample():
    maps = np.array([[[-1.0, 1.0], [0.0, 3.0]], [[2.0, 2.0], [2.0, 2.0]]], np.float32)
    norm = normalize_maps(maps)
    np.testing.assert_allclose(norm[0], [[0.0, 0.5], [0.25, 1.0]])
    assert (norm[1] == 0).all()  # constant map
    up = upsample_maps(norm, (10, 20), region=(5, 0, 15, 10))
    assert up.shape == (2, 10, 20)
    assert (up[:, :, :5] == 0).all() and (up[:, :, 15:] == 0).all()
    assert up[0, 9, 14] == pytest.approx(1.0) and up[0, 0, 5] == pytest.approx(0.0)
    assert upsample_maps(norm, (10, 20)).shape == (2, 10, 20)


def test_box_is_the_largest_component_above_20_percent():
    cam = np.zeros((50, 60), np.float32)
    cam[10:20, 5:15] = 1.0  # peak, 100 px
    cam[30:45, 30:55] = 0.25  # above 0.2 * max, 375 px: the largest component
    cam[0:3, 50:60] = 0.19  # below the threshold
    np.testing.assert_array_equal(box_from_map(cam), [30, 30, 55, 45])
    np.testing.assert_array_equal(box_from_map(cam, threshold=0.3), [5, 10, 15, 20])
    diagonal = np.eye(5, dtype=np.float32)  # 8-connected: one component
    np.testing.assert_array_equal(box_from_map(diagonal), [0, 0, 5, 5])
    np.testing.assert_array_equal(box_from_map(np.zeros((4, 4), np.float32)), [0, 0, 0, 0])
    assert boxes_from_maps(np.stack([cam, cam])).shape == (2, 4)
    assert boxes_from_maps(np.zeros((0, 4, 4), np.float32)).shape == (0, 4)


def test_flip_averaging_is_the_mean_of_both_passes(lite0_classifier, chelsea):
    x, _ = preprocess_imagenet(chelsea, "full", 224)
    with CamExplainer(lite0_classifier) as explainer:
        both = explainer.explain(x, classes=[281, 285], flip=True)
        plain = explainer.explain(x, classes=[281, 285])
        mirrored = explainer.explain(torch.flip(x, dims=[3]), classes=[281, 285])
    np.testing.assert_allclose(both.logits, (plain.logits + mirrored.logits) / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both.maps, (plain.maps + mirrored.maps[:, :, ::-1]) / 2, rtol=1e-5, atol=1e-5)
    bias = lite0_classifier.linear.bias.detach().numpy()[[281, 285]]
    np.testing.assert_allclose(both.maps.mean(axis=(1, 2)) + bias, both.logits[[281, 285]], rtol=1e-4, atol=1e-4)


def test_box_components_rule():
    cam = np.zeros((50, 60), np.float32)
    cam[10:20, 5:15] = 1.0  # 100 px
    cam[30:45, 30:55] = 0.5  # 375 px, the largest
    cam[0:2, 56:60] = 0.5  # 8 px, about 2% of the largest
    np.testing.assert_array_equal(box_from_map(cam, 0.25), [30, 30, 55, 45])  # the paper: largest only
    np.testing.assert_array_equal(box_from_map(cam, 0.25, component_fraction=0.2), [5, 10, 55, 45])  # + 100 px one
    np.testing.assert_array_equal(box_from_map(cam, 0.25, component_fraction=0.01), [5, 0, 60, 45])  # + all three
    np.testing.assert_array_equal(box_from_map(cam, 0.6, component_fraction=0.2), [5, 10, 15, 20])  # only the peak
    raw = cam - 0.3  # negative background: 30% of the max (0.21) keeps only the peak; min-max would keep more
    np.testing.assert_array_equal(box_from_map(raw, 0.3), [5, 10, 15, 20])
    np.testing.assert_array_equal(box_from_map(normalize_maps(raw[None])[0], 0.3), [30, 30, 55, 45])
