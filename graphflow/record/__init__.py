"""Record and replay packet streams in MCAP (https://mcap.dev): the generic layer (numpy + the ``mcap`` package).

- ``Recorder(graph, "run.mcap", streams=[...])``: record streams of a running graph (own queue and thread).
- ``Recording("run.mcap")``: iterate its packets with bounded memory; ``info()``; cut files replay up to the cut.
- ``drive(graph, recording, speed=0)``: re-drive a graph's inputs from a recording (``replay.py``).
- Encodings (``encoders.py``): ``tree`` (lossless JSON tree of registered payload types, ``codec.py``),
  ``raw_image`` (``foxglove.RawImage``); ``calculators.record`` registers the project's payload types, ``jpeg``
  (``foxglove.CompressedImage``) and Foxglove ``ImageAnnotations`` for hands, detections, ROIs and instances.

No pickle anywhere: opening a recording never runs code it names.
"""

from .codec import DecodingError, EncodingError, register_payload_type
from .encoders import StreamEncoder, register_annotator, register_encoder
from .reader import RecordedPacket, Recording, RecordingError
from .recorder import Recorder, default_streams
from .replay import Pacer, drive, looped, replay_graph_kwargs
from .writer import RecordError, RecordWriter

__all__ = [
    "DecodingError",
    "EncodingError",
    "Pacer",
    "RecordError",
    "RecordWriter",
    "RecordedPacket",
    "Recorder",
    "Recording",
    "RecordingError",
    "StreamEncoder",
    "default_streams",
    "drive",
    "looped",
    "register_annotator",
    "register_encoder",
    "register_payload_type",
    "replay_graph_kwargs",
]
