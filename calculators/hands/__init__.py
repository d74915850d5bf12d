"""hands calculators. ``CALCULATORS`` maps registered names to their classes, imported lazily."""

CALCULATORS: dict[str, str] = {}
