"""The optional per-frame result inputs shared by the renderer and the structured sinks."""

from __future__ import annotations

from calculators.types import ClassActivation, Instances
from graphflow import Calculator, Input


class ResultInputs(Calculator):
    """Declares HANDS, PALMS, ROIS, INSTANCES, CAM and CLASSES, all optional (not registered itself).

    HANDS - list[HandLandmarks]; PALMS - list[Detection]; ROIS - list[NormalizedRect]; INSTANCES - Instances;
    CAM - ClassActivation; CLASSES - list[Classification]
    """

    HANDS = Input(list, optional=True)
    PALMS = Input(list, optional=True)
    ROIS = Input(list, optional=True)
    INSTANCES = Input(Instances, optional=True)
    CAM = Input(ClassActivation, optional=True)
    CLASSES = Input(list, optional=True)


#: the tags ResultInputs declares; sinks that are pointless without any of them declare
#: ``connect_at_least_one = RESULT_TAGS`` (checked by ``graphflow.validate`` with the node's file:line)
RESULT_TAGS: tuple[str, ...] = ("HANDS", "PALMS", "ROIS", "INSTANCES", "CAM", "CLASSES")
