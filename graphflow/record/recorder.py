"""Recorder: record streams of a running ``Graph`` to MCAP from Python.

    graph = Graph.from_yaml("graphs/hand_tracking.yaml")
    with Recorder(graph, "run.mcap", streams=["image", "hands"]):   # before start(): it observes the streams
        graph.start()
        ...feed frames...
        graph.close()
    # the file is complete once the with-block (or recorder.close()) ends

Default streams: the graph's input and output streams. Every stream gets its packets and its timestamp-bound
advances recorded (the latter where the engine reports them: ``Graph.observe(..., on_bound=)``). The graph's YAML,
options, the graphflow version go into the file's ``graphflow`` metadata at the start; the per-stream packet and
drop counts into ``graphflow.summary`` at the end. ``stats()`` reports the recorder's own queue and drops.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..packet import Packet
from ..timestamp import Timestamp
from .writer import RecordWriter


def default_streams(graph: Any) -> list[str]:
    """The graph's input then output streams (each once)."""
    names = [n for n, _ in graph.spec.input_streams] + [n for n, _ in graph.spec.output_streams]
    return list(dict.fromkeys(names))


def graph_metadata(graph: Any, yaml_text: str | None = None) -> dict[str, str]:
    """The run's description for the file: graph source and YAML text, options, whether drops were disabled."""
    source = graph.spec.source
    if yaml_text is None and source and Path(source).is_file():
        yaml_text = Path(source).read_text()
    return {"graph": str(source), "graph_yaml": yaml_text or "",
            "options": json.dumps(graph.spec.options, default=repr, sort_keys=True),
            "lossless": json.dumps(bool(getattr(graph, "lossless", False)))}


def observes_bounds(graph: Any) -> bool:
    """Whether this engine reports bound advances to observers (``observe(..., on_bound=)``)."""
    return "on_bound" in inspect.signature(graph.observe).parameters


class Recorder:
    """Observe ``streams`` of ``graph`` (not yet started) and write them to ``path``; see the module docstring.

    Keyword options go to ``RecordWriter`` (encodings, image_encoding, compression, queue_size, annotations).
    """

    def __init__(self, graph: Any, path: str | Path, streams: Iterable[str] | None = None, *,
                 metadata: dict[str, str] | None = None, yaml_text: str | None = None, **writer_options: Any) -> None:
        names = list(dict.fromkeys(streams)) if streams is not None else default_streams(graph)
        known = graph.validated.stream_types
        missing = [s for s in names if s not in known]
        if missing:
            raise KeyError(f"record: no stream named '{missing[0]}' in {graph.spec.source} "
                           f"(streams: {', '.join(sorted(known))})")
        meta = graph_metadata(graph, yaml_text)
        meta.update(metadata or {})
        meta["bounds_recorded"] = json.dumps(observes_bounds(graph))
        self.writer = RecordWriter(path, {s: known[s] for s in names}, metadata=meta, **writer_options)
        self.streams = names
        self.path = Path(path)
        try:
            for stream in names:
                self._observe(graph, stream)
        except BaseException:
            self.writer.close()
            raise

    def _observe(self, graph: Any, stream: str) -> None:
        put_packet, put_bound = self.writer.put_packet, self.writer.put_bound

        def on_packet(packet: Packet) -> None:
            put_packet(stream, packet.timestamp.microseconds, packet.payload)

        if observes_bounds(graph):
            def on_bound(ts: Timestamp) -> None:
                put_bound(stream, ts.microseconds)

            graph.observe(stream, on_packet, on_bound=on_bound)
        else:
            graph.observe(stream, on_packet)

    def stats(self) -> dict[str, Any]:
        return self.writer.stats()

    def close(self) -> dict[str, Any]:
        """Finish the file (call after the graph has finished, so every packet is in). Returns ``stats()``."""
        return self.writer.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - the exception already propagating is the one to report
                pass
