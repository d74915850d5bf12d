"""Recording the project's payloads: registers them with ``graphflow.record`` and adds OpenCV-based encodings.

Importing this package registers the payload dataclasses (lossless ``tree`` encoding), the ``jpeg`` image
encoding (``foxglove.CompressedImage``) and the Foxglove ``ImageAnnotations`` views of hands, palm detections,
ROIs, instances and CAM boxes. Then use ``graphflow.record`` (``Recorder``, ``Recording``, ``drive``), the
``McapRecorder`` / ``ReplaySource`` calculators, or ``graphflow record|replay|info``.
"""

from graphflow.record import register_annotator, register_encoder

from .annotations import annotate
from .jpeg import JpegEncoder
from .payloads import register_all

register_all()
register_encoder(JpegEncoder)
register_annotator(annotate)
