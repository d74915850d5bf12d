"""The small shapes Mask R-CNN: its configuration, and reading/writing its checkpoint file.

Checkpoint layout (a plain dict; loads with ``torch.load(path, weights_only=True)``):

- ``format``: ``"graphflow-maskrcnn-small/1"``.
- ``config``: ``MaskRCNNConfig`` fields as a dict (backbone name, anchor sizes, head widths, thresholds, ...).
- ``class_names``: list of str, index = label (0 = background).
- ``state_dict``: the whole detector, float16 (halves the file; weights are cast back to float32 on load).
- ``training``: what produced it (seed, iterations, batch, evaluation numbers), for provenance only.

``load_detector(spec)`` also accepts a torchvision ``maskrcnn_resnet50_fpn`` state-dict file, loaded through
``MaskRCNN.from_torchvision_checkpoint``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig
from calculators.maskrcnn.shapes_dataset import CLASS_NAMES
from calculators.maskrcnn.small_backbone import EFFICIENTNET_MEAN, EFFICIENTNET_STD

CHECKPOINT_FORMAT = "graphflow-maskrcnn-small/1"
SHAPES_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "shapes_small.pt"
"""The committed checkpoint, produced by ``tools/train_shapes.py`` (``checkpoint="shapes"``)."""


def shapes_config(**overrides: Any) -> MaskRCNNConfig:
    """Detector settings for 128x128 shape scenes: small anchors, few proposals, narrow heads (CPU training)."""
    settings: dict[str, Any] = dict(
        num_classes=len(CLASS_NAMES),
        backbone="efficientnet_lite0_fpn",  # registered by small_backbone (ImageNet EfficientNet-Lite0 + FPN)
        trainable_backbone_layers=4,  # of 7 MBConv stages; the stem and stages 1-3 (stride <= 8) stay frozen
        fpn_channels=64,
        representation_size=256,
        mask_layers=(64, 64, 64, 64),
        min_size=128,
        max_size=128,
        image_mean=EFFICIENTNET_MEAN,
        image_std=EFFICIENTNET_STD,
        # objects are 12..64 px; one size per FPN level P2..P6 (torchvision uses 32..512 for COCO at 800 px)
        anchor_sizes=((8,), (16,), (32,), (64,), (128,)),
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=50,
        rpn_batch_size_per_image=128,
        box_batch_size_per_image=64,
        box_score_thresh=0.05,
        box_detections_per_img=20,
        mask_paste="subpixel",  # objects of 12..64 px: rounding boxes to whole pixels costs ~0.09 mask AP
        gt_mask_resize="nearest-exact",  # scenes are upscaled 1.5x for training (tools/train_shapes.py)
        box_refine_steps=1,  # box head applied again to its detections: +0.02 box AP (tools/train_shapes.py)
    )
    settings.update(overrides)
    return MaskRCNNConfig(**settings)


def build_shapes_model(config: MaskRCNNConfig | None = None) -> MaskRCNN:
    """A fresh detector: ImageNet EfficientNet-Lite0 body, randomly initialised FPN and heads (torch's RNG)."""
    return MaskRCNN(config or shapes_config())


def save_checkpoint(
    model: MaskRCNN, path: Path, class_names: tuple[str, ...] = CLASS_NAMES, training: dict | None = None
) -> None:
    """Write the detector in the layout of the module docstring."""
    if model.config.backbone != "efficientnet_lite0_fpn":
        raise ValueError(f"save_checkpoint writes the small model only, not backbone {model.config.backbone!r}")
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": dataclasses.asdict(model.config),
        "class_names": list(class_names),
        "state_dict": state,
        "training": training or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load_detector(spec: str | Path = "shapes", **config_overrides: Any) -> tuple[MaskRCNN, tuple[str, ...]]:
    """(model in eval mode, class names) from ``"shapes"``, one of our checkpoints, or a torchvision state dict.

    ``config_overrides`` replace ``MaskRCNNConfig`` fields (e.g. ``min_size``, ``box_score_thresh``).
    """
    path = SHAPES_CHECKPOINT if str(spec) == "shapes" else Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"Mask R-CNN checkpoint not found: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not (isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT):
        return MaskRCNN.from_torchvision_checkpoint(path, **config_overrides).eval(), ()
    stored = {k: _as_tuples(v) for k, v in payload["config"].items()}
    # settings a checkpoint written before they existed does not store: the shapes model's inference defaults
    defaults = {"mask_paste": "subpixel", "box_refine_steps": 1}
    config = MaskRCNNConfig.from_fields(**{**defaults, **stored, **config_overrides})
    model = build_shapes_model(config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in payload["state_dict"].items()}
    model.load_state_dict(state, strict=True)
    return model.eval(), tuple(payload["class_names"])


def _as_tuples(value: Any) -> Any:
    """Lists read back from a checkpoint -> tuples, as the config dataclass declares them."""
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    return value
