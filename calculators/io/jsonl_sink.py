"""JsonlSink: writes the structured results of each timestamp as one JSON line (schema in ``jsonl.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from graphflow import Context, register_calculator

from .jsonl import make_record
from .result_ports import ResultInputs


@register_calculator("JsonlSink")
class JsonlSinkCalculator(ResultInputs):
    """One line per timestamp with every connected result that carried a packet there.

    Inputs (all optional; connect at least one):
      HANDS - list[HandLandmarks]; PALMS - list[Detection]; ROIS - list[NormalizedRect]; INSTANCES - Instances;
      CAM - ClassActivation; CLASSES - list[Classification]
    Options: path, flush_every (lines between flushes; the file is always flushed and closed in ``close``).
    Counters: lines_written.
    Example:
      - calculator: JsonlSink
        inputs: {HANDS: hands, PALMS: palm_detections}
        options: {path: results.jsonl}
    """


    @dataclass
    class Options:
        path: str = "results.jsonl"
        flush_every: int = 30

    def open(self, ctx: Context) -> None:
        path = Path(self.options.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._lines = 0

    def process(self, ctx: Context) -> None:
        record = make_record(
            int(ctx.timestamp),
            self._lines,
            hands=ctx.get("HANDS"),
            palm_detections=ctx.get("PALMS"),
            hand_rois=ctx.get("ROIS"),
            instances=ctx.get("INSTANCES"),
            cam=ctx.get("CAM"),
            classes=ctx.get("CLASSES"),
        )
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._lines += 1
        ctx.count("lines_written")
        if self.options.flush_every and self._lines % self.options.flush_every == 0:
            self._file.flush()

    def close(self, ctx: Context) -> None:
        self._file.close()
