"""Timestamp-bound advances are recorded (``observe(..., on_bound=)``) and replayed (``set_input_bound``), so a
replayed stream's bound moves exactly where the recorded one moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphflow import Calculator, Context, Graph, Input, Output, register_calculator
from graphflow.record import Recorder, Recording, drive, replay_graph_kwargs
from graphflow.record.replay import DONE_US


@register_calculator("RecordTestEvenOnly")
class EvenOnly(Calculator):
    """Passes packets at even timestamps; at odd ones it emits nothing (the engine advances the bound)."""

    IN = Input(Any)
    OUT = Output(Any)

    def process(self, ctx: Context) -> None:
        if ctx.timestamp.microseconds % 2 == 0:
            ctx.emit("OUT", ctx.get("IN"))


def events(path: Path, stream: str) -> list[tuple[str, int]]:
    return [(p.kind, p.timestamp_us) for p in Recording(path).packets([stream])]


def test_bounds_are_recorded_and_replayed_where_they_moved(tmp_path: Path) -> None:
    original = Graph.from_yaml({"input_streams": ["x"], "output_streams": ["y"], "nodes": [
        {"calculator": "RecordTestEvenOnly", "inputs": {"IN": "x"}, "outputs": {"OUT": "y"}}]})
    with Recorder(original, tmp_path / "run.mcap", streams=["y"]):
        original.start()
        for t in range(10):
            original.add_packet("x", t, t)
        original.close()
    recorded = events(tmp_path / "run.mcap", "y")
    assert [e for e in recorded if e[0] == "packets"] == [("packets", t) for t in range(0, 10, 2)]
    bounds = [t for kind, t in recorded if kind == "bounds"]
    assert bounds[-1] == DONE_US and all(t % 2 == 0 for t in bounds[:-1])  # past each skipped odd timestamp
    assert len(bounds) >= 2

    replay = Graph.from_yaml({"input_streams": ["y"], "output_streams": ["z"], "nodes": [
        {"calculator": "PassThrough", "inputs": {"IN": "y"}, "outputs": {"OUT": "z"}}]}, **replay_graph_kwargs(0))
    with Recorder(replay, tmp_path / "again.mcap", streams=["y"]):
        replay.start()
        counts = drive(replay, Recording(tmp_path / "run.mcap"), speed=0)
        replay.close()
    assert counts.bounds == {"y": len(bounds) - 1}  # every bound but DONE went through set_input_bound
    assert events(tmp_path / "again.mcap", "y") == recorded
