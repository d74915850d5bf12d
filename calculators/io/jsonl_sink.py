"""JsonlSink: writes the structured results of each timestamp as one JSON line (schema in ``jsonl.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO

from graphflow import Context, register_calculator

from .jsonl import make_record
from .output_file import PendingOutput, describe_os_error
from .result_ports import RESULT_TAGS, ResultInputs


@register_calculator("JsonlSink")
class JsonlSinkCalculator(ResultInputs):
    """One line per timestamp with every connected result that carried a packet there.

    Inputs (all optional; connect at least one, checked at validation):
      HANDS - list[HandLandmarks]; PALMS - list[Detection]; ROIS - list[NormalizedRect]; INSTANCES - Instances;
      CAM - ClassActivation; CLASSES - list[Classification]
    Options: path (its directory must exist), flush_every (lines between flushes; the file is always flushed and
      closed in ``close``).
    The lines go to a temporary file beside ``path``, renamed onto it in ``close`` when at least one line was
    written (an existing file is kept when none was; see ``output_file.py``). A failed write (e.g. a full disk) is
    an error naming the file and the cause.
    Counters: lines_written.
    Example:
      - calculator: JsonlSink
        inputs: {HANDS: hands, PALMS: palm_detections}
        options: {path: results.jsonl}
    """

    connect_at_least_one = RESULT_TAGS  # with none connected it would run as a source, writing empty records

    @dataclass
    class Options:
        path: str = "results.jsonl"
        flush_every: int = 30

    def open(self, ctx: Context) -> None:
        self._out = PendingOutput(self.options.path, "JsonlSink")
        self._file: IO[str] | None = self._out.temp.open("w", encoding="utf-8")
        self._lines = 0
        self._broken = False  # a write failed: the file is incomplete and never replaces ``path``

    def _failed(self, exc: OSError) -> OSError:
        self._broken = True
        return OSError(f"cannot write '{self._out.path}': {describe_os_error(exc)}")

    def process(self, ctx: Context) -> None:
        assert self._file is not None
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
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            if self.options.flush_every and (self._lines + 1) % self.options.flush_every == 0:
                self._file.flush()
        except OSError as exc:
            raise self._failed(exc) from exc
        self._lines += 1
        ctx.count("lines_written")

    def close(self, ctx: Context) -> None:
        file, self._file = self._file, None
        try:
            if file is not None:
                try:
                    file.close()  # flushes: a full disk shows here at the latest
                except OSError as exc:
                    raise self._failed(exc) from exc
                if self._lines and not self._broken:
                    self._out.commit()
        finally:
            self._out.discard()
