"""maskrcnn calculators. ``CALCULATORS`` maps registered names to their classes, imported lazily."""

CALCULATORS: dict[str, str] = {
    "MaskRcnn": "calculators.maskrcnn.mask_rcnn_calculator:MaskRcnnCalculator",
}
