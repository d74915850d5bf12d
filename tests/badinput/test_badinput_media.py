"""Bad media: truncated and corrupted video files, empty and garbage files, odd image files, frames of the wrong
shape or type, and timestamps that go backwards. Each ends in a counted skip or one clear error naming the node
and timestamp; nothing hangs and nothing ends silently."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import calculators.io  # noqa: F401 - registers VideoSource
from calculators.io.frame_reader import FrameReader
from graphflow import Graph, GraphError, TimestampError

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
VIDEO = SHARED / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
HAND_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "hand_tracking.yaml"
VIDEO_FRAMES = 202


def run_source(path: Path | str) -> tuple[list[np.ndarray], dict]:
    """Run VideoSource on ``path`` alone; returns (frames, stats)."""
    graph = Graph.from_yaml({
        "output_streams": ["image"],
        "nodes": [{"name": "source", "calculator": "VideoSource", "outputs": {"IMAGE": "image"},
                   "options": {"input": str(path)}}],
    })
    frames: list[np.ndarray] = []
    graph.observe("image", lambda p: frames.append(p.payload))
    stats = graph.run(timeout=60)
    return frames, stats


def damaged_copies(tmp_path: Path) -> dict[str, Path]:
    data = VIDEO.read_bytes()
    rng = np.random.default_rng(7)
    corrupt = bytearray(data)
    start = len(corrupt) // 3
    corrupt[start:start + 20000] = rng.integers(0, 256, 20000, dtype=np.uint8).tobytes()
    out = {"truncated": data[: int(len(data) * 0.4)], "corrupted": bytes(corrupt)}
    paths = {}
    for name, blob in out.items():
        paths[name] = tmp_path / f"{name}.mp4"
        paths[name].write_bytes(blob)
    return paths


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_video_plays_what_decodes_and_counts_the_rest(tmp_path, damage):
    frames, stats = run_source(damaged_copies(tmp_path)[damage])
    counters = stats["nodes"]["source"]["counters"]
    assert 0 < len(frames) < VIDEO_FRAMES
    assert len(frames) + counters.get("decode_failures", 0) + counters["missing_frames"] == VIDEO_FRAMES
    assert all(f.shape == (360, 640, 3) and f.dtype == np.uint8 for f in frames)


def test_the_intact_video_counts_nothing_missing():
    frames, stats = run_source(VIDEO)
    assert len(frames) == VIDEO_FRAMES and "missing_frames" not in stats["nodes"]["source"]["counters"]


@pytest.mark.parametrize("content", [b"", b"\x00" * 1000, bytes(range(256)) * 400, b"ftyp" + b"\xff" * 5000])
def test_empty_or_garbage_file_is_one_clear_error(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(GraphError) as info:
        run_source(path)
    assert (info.value.node, info.value.phase) == ("source", "open")
    assert f"OpenCV cannot open '{path}'" in str(info.value)


def test_image_folder_with_gray_rgba_odd_sized_and_broken_files(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_gray.png"), np.full((20, 30), 128, np.uint8))
    cv2.imwrite(str(folder / "b_rgba.png"), np.full((20, 30, 4), 200, np.uint8))
    cv2.imwrite(str(folder / "c_one_pixel.png"), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(folder / "d_odd.png"), np.zeros((3, 5, 3), np.uint8))
    (folder / "e_zero_bytes.png").write_bytes(b"")
    (folder / "f_not_an_image.jpg").write_text("hello")
    frames, stats = run_source(folder)
    assert [f.shape for f in frames] == [(20, 30, 3), (20, 30, 3), (1, 1, 3), (3, 5, 3)]
    assert all(f.dtype == np.uint8 and f.flags.c_contiguous for f in frames)
    assert stats["nodes"]["source"]["counters"]["decode_failures"] == 2


def test_non_monotonic_container_times_are_repaired_and_counted():
    class BackwardsClock:
        """A capture whose presentation times repeat and jump back (as some edited files do)."""

        times = [0.0, 33.0, 33.0, 10.0, 100.0, float("nan"), 133.0]

        def __init__(self) -> None:
            self.i = -1

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return True

        def grab(self) -> bool:
            self.i += 1
            return self.i < len(self.times)

        def retrieve(self) -> tuple[bool, np.ndarray]:
            return True, np.zeros((4, 4, 3), np.uint8)

        def get(self, prop: int) -> float:
            if prop == cv2.CAP_PROP_POS_MSEC:
                return self.times[self.i]
            return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_COUNT: len(self.times)}.get(prop, 0.0)

        def set(self, prop: int, value: float) -> bool:
            return False

        def release(self) -> None:
            pass

    reader = FrameReader(str(VIDEO), capture_factory=lambda target: BackwardsClock())
    stamps = [f.timestamp for f in reader]
    assert len(stamps) == 7 and all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    # 33 repeats; 10 goes back; NaN is missing; 133 is behind the NaN frame's synthesised 100 ms + one period
    assert reader.repair.repairs == {"repeated": 1, "backwards": 2, "missing": 1}
    assert "missing_frames" not in reader.stats


def run_hand_graph(frames: list[tuple[int, object]]) -> dict:
    graph = Graph.from_yaml(HAND_GRAPH, model_complexity=0)
    hands: list[int] = []
    graph.observe("hands", lambda p: hands.append(int(p.timestamp)))
    graph.start()
    try:
        for ts, frame in frames:
            graph.add_packet("image", frame, ts)
        graph.wait_until_done(timeout=60)
    finally:
        graph.close()
    return {"hands_timestamps": hands, "stats": graph.stats()}


BAD_FRAMES = {
    "grayscale": (np.zeros((48, 64), np.uint8), "a grayscale frame: convert it with cv2.cvtColor"),
    "rgba": (np.zeros((48, 64, 4), np.uint8), "an RGBA frame: drop alpha"),
    "float": (np.zeros((48, 64, 3), np.float32), "scale and convert it"),
    "zero_size": (np.zeros((0, 0, 3), np.uint8), "got an empty one (0, 0, 3)"),
    "zero_width": (np.zeros((48, 0, 3), np.uint8), "got an empty one (48, 0, 3)"),
    "not_an_array": ([[1, 2, 3]], "(np.ndarray), got list"),
}


@pytest.mark.parametrize("kind", list(BAD_FRAMES))
def test_hand_graph_rejects_a_frame_of_the_wrong_kind_clearly(kind):
    frame, expected = BAD_FRAMES[kind]
    good = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(GraphError) as info:
        run_hand_graph([(0, good), (33_000, frame), (66_000, good)])
    err = info.value
    assert err.timestamp == 33_000 and err.phase == "process"
    assert err.node == "palm_detection/palm_input" and isinstance(err.__cause__, ValueError)
    assert "expected an (H, W, 3) uint8 RGB image" in str(err) and expected in str(err)


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (7, 1, 3)])
def test_hand_graph_runs_on_tiny_and_odd_sized_frames(shape):
    out = run_hand_graph([(0, np.zeros(shape, np.uint8)), (33_000, np.full(shape, 255, np.uint8))])
    assert out["stats"]["nodes"]["palm_detection/palm_input"]["process_calls"] == 2


def test_timestamps_going_backwards_are_refused_and_the_graph_goes_on():
    graph = Graph.from_yaml(HAND_GRAPH, model_complexity=0)
    seen: list[int] = []
    graph.observe("hands", lambda p: seen.append(int(p.timestamp)))
    graph.start()
    frame = np.zeros((48, 64, 3), np.uint8)
    graph.add_packet("image", frame, 0)
    graph.add_packet("image", frame, 66_000)
    for bad in (33_000, 66_000):
        with pytest.raises(TimestampError, match=rf"stream 'image': timestamp {bad}us from the application"):
            graph.add_packet("image", frame, bad)
    graph.add_packet("image", frame, 99_000)
    graph.close(timeout=30)
    assert seen == [0, 66_000, 99_000]
