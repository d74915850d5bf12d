"""The lossless payload codec: every payload type round-trips exactly, through a real MCAP file too; nothing in a
recording can make the reader import or build an arbitrary object; unencodable streams are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from record_payloads import assert_identical, samples

from graphflow import Graph
from graphflow.record import EncodingError, Recorder, RecordError, Recording, RecordWriter, codec
from graphflow.record.encoders import TreeEncoder


@pytest.mark.parametrize("name", list(samples()))
def test_tree_round_trip_is_exact(name: str) -> None:
    value = samples()[name]
    data = codec.dumps(codec.to_tree(value))
    back = codec.from_tree(codec.loads(data))
    assert_identical(value, back)
    assert codec.dumps(codec.to_tree(back)) == data  # encoding is deterministic: same object, same bytes
    json.loads(data)  # strict JSON (no NaN/Infinity literals)
    assert b"NaN" not in data and b"Infinity" not in data


def test_decoded_arrays_are_writable_like_live_ones() -> None:
    image = samples()["image"]
    back = codec.from_tree(codec.loads(codec.dumps(codec.to_tree(image))))
    back[0, 0] = 7  # a calculator that copies-then-edits or edits its own output must not fail on replay
    assert back.flags.writeable


def test_every_payload_type_round_trips_through_an_mcap_file(tmp_path: Path) -> None:
    values = samples()
    path = tmp_path / "all.mcap"
    writer = RecordWriter(path, dict.fromkeys(values, Any), encodings=dict.fromkeys(values, "tree"))
    for i, value in enumerate(values.values()):
        assert writer.put_packet(list(values)[i], 1000 + i, value)
    stats = writer.close()
    assert stats["drops_total"] == 0
    got = {p.stream: p for p in Recording(path).packets()}
    assert list(got) == list(values)
    for i, (name, value) in enumerate(values.items()):
        assert got[name].timestamp_us == 1000 + i
        assert_identical(value, got[name].payload, name)


def test_a_recording_cannot_name_a_class_to_build() -> None:
    # what a pickle-like format would execute: a module path and a callable
    hostile = {"$type": "os.system", "fields": {"command": "echo pwned"}}
    with pytest.raises(codec.DecodingError, match="not registered"):
        codec.from_tree(hostile)
    with pytest.raises(codec.DecodingError, match="dtype"):
        codec.from_tree({"$ndarray": {"dtype": "O", "shape": [1], "data": ""}})
    with pytest.raises(codec.DecodingError, match="needs 12 bytes"):
        codec.from_tree({"$ndarray": {"dtype": "<f4", "shape": [3], "data": "AAAA"}})


class Opaque:
    """A payload class nobody registered."""


def test_unencodable_stream_type_is_refused_at_start_in_one_line(tmp_path: Path) -> None:
    from graphflow import Calculator, Context, Input, Output, register_calculator

    @register_calculator("RecordTestMakeOpaque")
    class MakeOpaque(Calculator):
        IN = Input(Any)
        OUT = Output(Opaque)

        def process(self, ctx: Context) -> None:
            ctx.emit("OUT", Opaque())

    graph = Graph.from_yaml({"input_streams": ["x"], "output_streams": ["opaque"], "nodes": [
        {"calculator": "RecordTestMakeOpaque", "inputs": {"IN": "x"}, "outputs": {"OUT": "opaque"}}]})
    with pytest.raises(EncodingError) as err:
        Recorder(graph, tmp_path / "x.mcap")
    message = str(err.value)
    assert "\n" not in message and "'opaque'" in message and "test_record_codec.Opaque" in message
    assert not (tmp_path / "x.mcap").exists()  # refused before a file is made
    Recorder(graph, tmp_path / "ok.mcap", streams=["x"]).close()  # leaving it out works


def test_unencodable_packet_on_an_untyped_stream_fails_the_close_naming_it(tmp_path: Path) -> None:
    graph = Graph.from_yaml({"input_streams": ["x"], "output_streams": ["y"], "nodes": [
        {"calculator": "PassThrough", "inputs": {"IN": "x"}, "outputs": {"OUT": "y"}}]})
    recorder = Recorder(graph, tmp_path / "bad.mcap", streams=["y"])
    graph.start()
    graph.add_packet("x", [1, 2], 0)
    graph.add_packet("x", [Opaque()], 1)
    graph.close()
    with pytest.raises(RecordError, match=r"stream 'y' at 1us: .*Opaque has no recording encoding"):
        recorder.close()
    assert [p.payload for p in Recording(tmp_path / "bad.mcap").packets(bounds=False)] == [[1, 2]]  # rest kept


def test_raw_image_refuses_a_non_image_array_and_tree_takes_it(tmp_path: Path) -> None:
    w = RecordWriter(tmp_path / "a.mcap", {"t": np.ndarray}, encodings={"t": "raw_image"})
    w.put_packet("t", 0, np.zeros((2, 3, 5), np.float64))
    with pytest.raises(RecordError, match="not an image foxglove.RawImage can hold.*encoding 'tree'"):
        w.close()
    w = RecordWriter(tmp_path / "b.mcap", {"t": np.ndarray})  # auto: not image-like -> tree
    w.put_packet("t", 0, np.zeros((2, 3, 5), np.float64))
    w.close()
    (p,) = Recording(tmp_path / "b.mcap").packets()
    assert p.payload.shape == (2, 3, 5)
    assert TreeEncoder.schema.name == "graphflow.Payload"
