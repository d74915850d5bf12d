"""McapRecorder: record streams to an MCAP file from inside a YAML graph."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graphflow import Calculator, Context, Input, register_calculator
from graphflow.record.writer import DEFAULT_QUEUE_SIZE, RecordWriter


@register_calculator("McapRecorder")
class McapRecorderCalculator(Calculator):
    """Records its input streams to an MCAP file through its own bounded queue and writer thread.

    Inputs:  STREAMS - Any, multiple: the streams to record, in the order ``options.streams`` names them
    Options: path (the .mcap file), streams (one channel name per input, usually the stream names),
      image_encoding ("raw_image" lossless | "jpeg"), compression ("zstd" | "lz4" | "none"),
      queue_size (packets the writer may fall behind before it drops, counted), annotations (Foxglove views)
    Counters: dropped (the writer's queue was full), recorded (written, at close)
    Records packets only: bound advances are recorded by the Python ``Recorder`` / ``graphflow record``.
    Example:
      - calculator: McapRecorder
        inputs: {STREAMS: [image, hands]}
        options: {path: run.mcap, streams: [image, hands]}
    """

    STREAMS = Input(Any, multiple=True)
    input_policy = "immediate"  # record each packet when it arrives; never wait for the other streams

    @dataclass
    class Options:
        path: str = ""
        streams: list[str] = field(default_factory=list)
        image_encoding: str = "raw_image"
        compression: str = "zstd"
        queue_size: int = DEFAULT_QUEUE_SIZE
        annotations: bool = True

    def open(self, ctx: Context) -> None:
        o = self.options
        n = ctx.input_count("STREAMS")
        if not o.path:
            raise ValueError("McapRecorder needs options.path (the .mcap file to write)")
        if len(o.streams) != n:
            raise ValueError(f"McapRecorder: options.streams names {len(o.streams)} channel(s) for {n} input "
                             "stream(s); give one name per STREAMS input, in the same order")
        self.names = list(o.streams)
        self.writer = RecordWriter(o.path, dict.fromkeys(self.names, Any), image_encoding=o.image_encoding,
                                   compression=o.compression, queue_size=o.queue_size, annotations=o.annotations,
                                   metadata={"recorded_by": f"McapRecorder node '{ctx.node_name}'",
                                             "bounds_recorded": json.dumps(False)})

    def process(self, ctx: Context) -> None:
        ts = ctx.timestamp.microseconds
        for i, payload in enumerate(ctx.get("STREAMS")):
            if payload is not None and not self.writer.put_packet(self.names[i], ts, payload):
                ctx.count("dropped")

    def close(self, ctx: Context) -> None:
        writer = getattr(self, "writer", None)
        if writer is not None and not writer.closed:
            stats = writer.close()
            ctx.count("recorded", sum(s["recorded"] for s in stats["streams"].values()))
