"""EfficientNet-Lite0: strict weight loading, feature/pyramid shapes, ImageNet predictions on real photos."""

from __future__ import annotations

import pytest
import torch

from calculators.cam.efficientnet_lite import (
    PYRAMID_LEVELS,
    WEIGHTS_SHA256,
    EfficientNetLite0,
    _sha256,
    load_efficientnet_lite0,
    load_state_dict,
    weights_path,
)
from calculators.cam.imagenet_names import imagenet_class_names
from calculators.cam.preprocess import crop_region, preprocess_imagenet

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def test_checkpoint_hash_and_strict_names():
    assert _sha256(weights_path()) == WEIGHTS_SHA256
    state = load_state_dict()
    model_state = EfficientNetLite0().state_dict()
    assert set(state) == set(model_state), set(state) ^ set(model_state)
    for name, tensor in state.items():
        assert tensor.shape == model_state[name].shape, name


def test_hash_mismatch_is_refused(tmp_path):
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"not the weights")
    with pytest.raises(ValueError, match="SHA-256"):
        load_state_dict(bad)


def test_shapes_and_bn_eps():
    model = load_efficientnet_lite0(pretrained=False)
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        assert model(x).shape == (1, 1000)
        assert model.forward_features(x).shape == (1, 1280, 7, 7)
        pyramid = model.forward_pyramid(torch.zeros(1, 3, 200, 260))
    for name, stride in (("C2", 4), ("C3", 8), ("C4", 16), ("C5", 32)):
        channels = PYRAMID_LEVELS[name][1]
        assert pyramid[name].shape == (1, channels, -(-200 // stride), -(-260 // stride)), name


def test_tf_same_padding_is_asymmetric_on_stride_2():
    """A stride-2 3x3 conv on an even input pads 0 before and 1 after (TF SAME), unlike PyTorch's padding=1."""
    model = load_efficientnet_lite0(pretrained=False)
    stem = model._conv_stem
    x = torch.randn(1, 3, 8, 8)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), stem.weight, stride=2)
    torch.testing.assert_close(stem(x), expected)


def test_center_crop_region():
    assert crop_region((300, 451)) == (94, 19, 356, 281)  # 224/256 * 300 = 262.5 -> a 262 px square, centred
    assert crop_region((300, 451), "full") == (0, 0, 451, 300)
    with pytest.raises(ValueError):
        crop_region((10, 10), "middle")


@pytest.mark.parametrize("crop", ["center", "full"])
def test_chelsea_is_a_cat_and_coffee_is_espresso(lite0_classifier, chelsea, coffee, crop):
    names = imagenet_class_names()
    with torch.no_grad():
        for image, expected in ((chelsea, CAT_CLASSES), (coffee, [ESPRESSO])):
            x, _ = preprocess_imagenet(image, crop)
            logits = lite0_classifier.linear(lite0_classifier.features(x).mean(dim=(2, 3)))[0]
            top1 = int(logits.argmax())
            assert top1 in expected, f"top-1 {top1} ({names[top1]}), expected one of {list(expected)}"


def test_imagenet_names():
    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) > 990
    assert names[281] == "tabby" and names[ESPRESSO] == "espresso"
