"""Determinism: replaying the recorded ``image`` stream of a ``graphs/hand_tracking.yaml`` run as fast as possible
reproduces the recorded ``hands`` (and palms, ROIs) bit for bit, timestamps and bytes; two replays are identical;
``ReplaySource`` in a YAML graph, in place of ``VideoSource``, does the same. Plus looping and pacing order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import calculators.record  # noqa: F401 - payload types
from calculators.io.frame_reader import FrameReader
from graphflow import Graph
from graphflow.record import Recorder, Recording, drive, replay_graph_kwargs

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
HAND_GRAPH = REPO / "graphs" / "hand_tracking.yaml"
OPTIONS = {"model_complexity": 0, "max_num_hands": 2}
FRAMES = 10
RESULTS = ["hands", "palm_detections", "hand_rois"]


def recorded(path: Path, streams: list[str]) -> dict[str, list[tuple[int, bytes]]]:
    rec = Recording(path)
    out: dict[str, list[tuple[int, bytes]]] = {s: [] for s in streams}
    for p in rec.packets(streams, bounds=False):
        out[p.stream].append((p.timestamp_us, p.data))
    assert not rec.truncated
    return out


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 'robot' run: frames from the clip, fed at the camera's timestamps, image and results recorded."""
    assert VIDEO.is_file(), f"missing shared test video {VIDEO}"
    path = tmp_path_factory.mktemp("live") / "run.mcap"
    graph = Graph.from_yaml(HAND_GRAPH, **OPTIONS)
    with Recorder(graph, path, streams=["image", *RESULTS]):
        graph.start()
        for frame in FrameReader(str(VIDEO), max_frames=FRAMES, width=320, height=240):
            graph.add_packet("image", frame.image, frame.timestamp)
        graph.close()
    return path


def replay_once(recording: Path, out: Path) -> None:
    graph = Graph.from_yaml(HAND_GRAPH, **OPTIONS, **replay_graph_kwargs(0.0))
    with Recorder(graph, out, streams=RESULTS):
        graph.start()
        counts = drive(graph, Recording(recording), speed=0.0)
        graph.close()
    assert counts.packets == {"image": FRAMES}


def test_replay_reproduces_the_recorded_hands_bit_for_bit(live_run: Path, tmp_path: Path) -> None:
    original = recorded(live_run, RESULTS)
    assert len(original["hands"]) == FRAMES
    assert sum(b'"$type":"HandLandmarks"' in data for _, data in original["hands"]) >= FRAMES // 2  # hands found
    replay_once(live_run, tmp_path / "a.mcap")
    replay_once(live_run, tmp_path / "b.mcap")
    first, second = recorded(tmp_path / "a.mcap", RESULTS), recorded(tmp_path / "b.mcap", RESULTS)
    for stream in RESULTS:
        assert first[stream] == original[stream], f"replayed '{stream}' differs from the recording"
        assert second[stream] == first[stream], f"two replays of '{stream}' differ"


def test_replay_source_in_yaml_in_place_of_video_source(live_run: Path, tmp_path: Path) -> None:
    graph_file = tmp_path / "replayed_hands.yaml"
    graph_file.write_text(f"""
output_streams: [hands]
nodes:
  # Frames from the recording instead of a camera: same timestamps, same pixels.
  - calculator: ReplaySource
    outputs: {{IMAGE: image}}
    options: {{path: {live_run}, stream: image, speed: 0}}
  # The app graph under test, unchanged.
  - subgraph: {HAND_GRAPH}
    inputs: {{image: image}}
    outputs: {{hands: hands}}
    options: {{model_complexity: 0, max_num_hands: 2}}
""")
    graph = Graph.from_yaml(graph_file, **replay_graph_kwargs(0.0))
    with Recorder(graph, tmp_path / "c.mcap", streams=["hands"]):
        graph.run()
    assert recorded(tmp_path / "c.mcap", ["hands"])["hands"] == recorded(live_run, ["hands"])["hands"]


def test_replay_source_loops_with_increasing_timestamps(live_run: Path) -> None:
    graph = Graph.from_yaml({"output_streams": ["image"], "nodes": [
        {"calculator": "ReplaySource", "outputs": {"IMAGE": "image"},
         "options": {"path": str(live_run), "speed": 0, "loop": True, "max_frames": 2 * FRAMES + 3}}]})
    got = []
    graph.observe("image", lambda p: got.append((p.timestamp.microseconds, p.payload)))
    graph.run()
    ts = [t for t, _ in got]
    assert len(got) == 2 * FRAMES + 3 and all(b > a for a, b in zip(ts, ts[1:], strict=False))
    original = [p for p in Recording(live_run).packets(["image"], bounds=False)]
    period = ts[FRAMES] - ts[0]
    for i, (t, image) in enumerate(got):
        src = original[i % FRAMES]
        assert t == src.timestamp_us + (i // FRAMES) * period
        np.testing.assert_array_equal(image, src.payload)
