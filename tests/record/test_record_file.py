"""Recordings as files: read back with the plain ``mcap`` reader (no graphflow code); cut, damaged and foreign files;
the recorder's bounded queue drops and counts instead of slowing the graph."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.writer import Writer

import calculators.record  # noqa: F401 - payload types, jpeg, annotations
from calculators.types import Detection
from graphflow import Graph
from graphflow.record import Recorder, Recording, RecordingError, RecordWriter, register_encoder
from graphflow.record.encoders import Schema, TreeEncoder

FRAMES = 6
H, W = 48, 64


def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(FRAMES)]


def palms(i: int) -> list[Detection]:
    return [Detection(box=np.array([0.1, 0.2, 0.3 + i / 100, 0.5], np.float32), score=0.9,
                      keypoints=np.full((7, 2), 0.25, np.float32))]


def record_small(path: Path, **options: Any) -> list[np.ndarray]:
    """image -> PassThrough -> out; palms fed alongside (a graph input of list payloads)."""
    graph = Graph.from_yaml({"input_streams": ["image", "palms"], "output_streams": ["out"], "nodes": [
        {"calculator": "PassThrough", "inputs": {"IN": "image"}, "outputs": {"OUT": "out"}}]})
    images = frames()
    with Recorder(graph, path, streams=["image", "palms", "out"], **options):
        graph.start()
        for i, image in enumerate(images):
            graph.add_packet("image", image, i * 33_333)
            graph.add_packet("palms", palms(i), i * 33_333)
        graph.close()
    return images


def test_plain_mcap_reader_sees_foxglove_channels_and_raw_pixels(tmp_path: Path) -> None:
    path = tmp_path / "run.mcap"
    images = record_small(path)
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None and reader.get_header().profile == "graphflow"
        topics = {c.topic: summary.schemas[c.schema_id] for c in summary.channels.values()}
        assert {t: (s.name, s.encoding) for t, s in topics.items()} == {
            "image": ("foxglove.RawImage", "jsonschema"), "out": ("foxglove.RawImage", "jsonschema"),
            "palms": ("graphflow.Payload", "jsonschema"), "palms:annotations": ("foxglove.ImageAnnotations",
                                                                              "jsonschema"),
            **{f"{s}:bound": ("graphflow.Bound", "jsonschema") for s in ("image", "palms", "out")}}
        assert json.loads(topics["image"].data)["title"] == "foxglove.RawImage"
        assert all(c.message_encoding == "json" for c in summary.channels.values())
        assert summary.statistics.message_count == 4 * FRAMES + 3  # + each stream's DONE bound
        got = []
        for _schema, _channel, message in reader.iter_messages(topics=["image"]):
            body = json.loads(message.data)  # decoded by hand, as another tool would
            assert body["encoding"] == "rgb8" and body["step"] == W * 3 and (body["height"], body["width"]) == (H, W)
            pixels = np.frombuffer(base64.b64decode(body["data"]), np.uint8).reshape(H, W, 3)
            got.append((message.log_time, message.sequence, body["timestamp"], pixels))
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    assert [g[0] for g in got] == [i * 33_333_000 for i in range(FRAMES)]  # log_time = packet timestamp, ns
    assert [g[1] for g in got] == list(range(FRAMES))                       # sequence = index in the stream
    assert got[1][2] == {"sec": 0, "nsec": 33_333_000}
    for (_, _, _, pixels), image in zip(got, images, strict=True):
        np.testing.assert_array_equal(pixels, image)
    assert metadata["graphflow"]["version"]
    assert json.loads(metadata["graphflow"]["streams"]) == ["image", "palms", "out"]
    assert json.loads(metadata["graphflow.summary"]["drops"]) == {"image": 0, "palms": 0, "out": 0}
    with open(path, "rb") as f:  # the annotation view: the palm box in pixels of the last image
        (_, _, msg), *_ = make_reader(f).iter_messages(topics=["palms:annotations"])
    box = json.loads(msg.data)["points"][0]
    assert box["type"] == 2 and box["points"][0] == {"x": pytest.approx(0.1 * W), "y": pytest.approx(0.2 * H)}


def test_jpeg_option_writes_compressed_images_that_decode_close(tmp_path: Path) -> None:
    path = tmp_path / "small.mcap"
    writer = RecordWriter(path, {"image": np.ndarray}, image_encoding="jpeg")
    y, x = np.mgrid[0:H, 0:W]
    images = [np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8) + i for i in range(FRAMES)]
    for i, image in enumerate(images):
        writer.put_packet("image", i, image)
    writer.close()
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    assert {summary.schemas[c.schema_id].name for c in summary.channels.values() if c.topic == "image"} == {
        "foxglove.CompressedImage"}
    back = [p.payload for p in Recording(path).packets(["image"])]
    assert len(back) == FRAMES and back[0].shape == (H, W, 3) and back[0].dtype == np.uint8
    assert float(np.abs(back[2].astype(int) - images[2].astype(int)).mean()) < 2.0  # smooth gradients survive JPEG
    assert path.stat().st_size < sum(i.nbytes for i in images) / 4


def messages_of(path: Path) -> list[tuple[str, int, bytes]]:
    return [(p.stream, p.timestamp_us, p.data) for p in Recording(path).packets()]


def test_a_cut_file_replays_what_precedes_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "full.mcap"
    record_small(path, chunk_bytes=4096, compression="none")  # several chunks
    full = messages_of(path)
    data = path.read_bytes()
    seen_prefix_lengths = set()
    for cut in np.linspace(40, len(data) - 1, 25).astype(int):
        cut_path = tmp_path / f"cut{cut}.mcap"
        cut_path.write_bytes(data[:cut])
        rec = Recording(cut_path)
        got = [(p.stream, p.timestamp_us, p.data) for p in rec.packets()]
        assert got == full[:len(got)], f"cut at {cut}: not a prefix of the full recording"
        assert rec.truncated and rec.truncated_at == cut
        seen_prefix_lengths.add(len(got))
        assert rec.info()["truncated"]
    assert 0 in seen_prefix_lengths and len(seen_prefix_lengths) > 3  # cuts early lose all, later ones keep more


@pytest.mark.parametrize("where", [0.3, 0.6])
def test_damaged_bytes_give_one_clear_error(tmp_path: Path, where: float) -> None:
    path = tmp_path / "full.mcap"
    record_small(path, chunk_bytes=4096)
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i:i + 16] = bytes(16)  # zeroed bytes inside a chunk
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(bytes(data))
    with pytest.raises(RecordingError) as err:
        messages_of(bad)
    assert "bad.mcap: damaged at or after byte" in str(err.value) and "\n" not in str(err.value)


def test_foreign_files_give_one_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.mcap"
    text.write_text("hello, this is not a recording\n")
    with pytest.raises(RecordingError, match=r"notes.mcap: not an MCAP file \(it starts with b'hello, t'"):
        Recording(text)
    with pytest.raises(RecordingError, match="no such recording"):
        Recording(tmp_path / "missing.mcap")
    ros = tmp_path / "ros.mcap"  # a valid MCAP file of another tool
    with open(ros, "wb") as f:
        w = Writer(f)
        w.start(profile="ros2", library="someone else")
        sid = w.register_schema("std_msgs/msg/String", "ros2msg", b"string data")
        cid = w.register_channel("/chatter", "cdr", sid)
        w.add_message(cid, log_time=5, data=b"\x00\x01\x00\x00\x03\x00\x00\x00hi\x00", publish_time=5)
        w.finish()
    rec = Recording(ros)
    assert rec.info()["channels"]["/chatter"]["messages"] == 1  # info lists any MCAP
    with pytest.raises(RecordingError, match="not a graphflow recording \\(MCAP profile 'ros2'"):
        list(rec.packets())


class BlockingEncoder(TreeEncoder):
    """The tree encoding, but it waits for ``release`` (a disk that stalls), telling ``entered`` once it waits."""

    name = "test_blocking"
    schema = Schema("graphflow.test.Blocking", b"{}")
    entered = threading.Event()
    release = threading.Event()

    def encode(self, payload: Any, timestamp_us: int, stream: str) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(10)
        return super().encode(payload, timestamp_us, stream)


def test_a_stalled_writer_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    register_encoder(BlockingEncoder)
    path = tmp_path / "drops.mcap"
    writer = RecordWriter(path, {"x": int}, encodings={"x": "test_blocking"}, queue_size=2)
    assert writer.put_packet("x", 0, 0)
    assert BlockingEncoder.entered.wait(5)  # the writer thread holds packet 0 and waits
    accepted = [writer.put_packet("x", t, t) for t in range(1, 10)]  # returns at once: never blocks the caller
    assert accepted == [True, True] + [False] * 7
    assert writer.stats()["streams"]["x"]["dropped"] == 7 and writer.stats()["drops_total"] == 7
    BlockingEncoder.release.set()
    stats = writer.close()
    assert stats["streams"]["x"]["recorded"] == 3
    rec = Recording(path)
    assert [p.payload for p in rec.packets()] == [0, 1, 2]
    info = rec.info()
    assert json.loads(info["summary"]["drops"]) == {"x": 7} and info["summary"]["drops_total"] == "7"
    assert info["channels"]["x"]["sequence_gaps"] == 0  # the drops were the newest packets: no gap before them


def test_recorder_thread_is_joined_and_close_is_idempotent(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path / "t.mcap", {"x": int})
    writer.put_packet("x", 0, 1)
    writer.close()
    assert not writer._thread.is_alive()
    assert writer.close()["closed"]
    assert writer.put_packet("x", 1, 2) is False  # after close: refused and counted, never written
    assert writer.stats()["streams"]["x"]["dropped"] == 1


def test_mcap_recorder_calculator_records_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "in_graph.mcap"
    graph = Graph.from_yaml({"input_streams": ["image", "palms"], "nodes": [
        {"calculator": "McapRecorder", "inputs": {"STREAMS": ["image", "palms"]},
         "options": {"path": str(path), "streams": ["image", "palms"]}}]})
    images = frames()
    graph.start()
    for i, image in enumerate(images):
        graph.add_packet("image", image, i * 10)
        if i % 2 == 0:
            graph.add_packet("palms", palms(i), i * 10)
    graph.close()
    assert graph.stats()["nodes"]["McapRecorder"]["counters"].get("recorded") == FRAMES + FRAMES // 2
    got = list(Recording(path).packets())
    assert [(p.stream, p.timestamp_us) for p in got if p.stream == "palms"] == [("palms", i * 10) for i in (0, 2, 4)]
    for p, image in zip([p for p in got if p.stream == "image"], images, strict=True):
        np.testing.assert_array_equal(p.payload, image)
    with pytest.raises(Exception, match="one name per STREAMS input"):
        Graph.from_yaml({"input_streams": ["image"], "nodes": [
            {"calculator": "McapRecorder", "inputs": {"STREAMS": ["image"]},
             "options": {"path": str(path), "streams": []}}]}).start()
