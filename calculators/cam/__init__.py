"""cam calculators. ``CALCULATORS`` maps registered names to their classes, imported lazily."""

CALCULATORS: dict[str, str] = {
    "ClassActivationMap": "calculators.cam.cam_calculator:ClassActivationMapCalculator",
}
