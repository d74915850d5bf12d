"""The OpenCV frame reader: the shared test video, timestamp repair, decode failures, lost cameras, folders."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from io_reference import SHARED, VIDEO

from calculators.io.frame_reader import (
    FrameReader,
    SourceLostError,
    SourceOpenError,
    SourceSpec,
    classify_input,
    resize_to,
)
from calculators.io.timestamps import TimestampRepair

IMAGES = SHARED / "data" / "hands" / "images"


def test_file_source_yields_every_frame_with_increasing_timestamps():
    reader = FrameReader(str(VIDEO))
    assert reader.frame_count() == 202
    frames = list(reader)
    assert len(frames) == 202
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert stamps[0] == 0 and stamps[1] == 40_000  # 25 fps presentation times, in microseconds
    assert stamps[-1] == 201 * 40_000
    assert reader.repair.total_repairs == 0 and reader.stats["decode_failures"] == 0
    first = frames[0].image
    assert first.shape == (360, 640, 3) and first.dtype == np.uint8 and first.flags["C_CONTIGUOUS"]


def test_file_frames_are_rgb():
    frame = next(iter(FrameReader(str(VIDEO), max_frames=1))).image
    cap = cv2.VideoCapture(str(VIDEO))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    np.testing.assert_array_equal(frame, bgr[..., ::-1])


def test_start_end_fps_and_resize():
    reader = FrameReader(str(VIDEO), start=1.0, end=2.0, fps=10, width=320)
    frames = list(reader)
    assert reader.frame_count() == 10 and len(frames) == 10
    assert frames[0].timestamp == 1_000_000 and frames[-1].timestamp < 2_000_000
    assert frames[0].image.shape == (180, 320, 3)


def test_loop_keeps_timestamps_increasing():
    frames = list(FrameReader(str(VIDEO), end=0.2, loop=True, max_frames=12))
    stamps = [f.timestamp for f in frames]
    assert len(frames) == 12 and all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert stamps[5] == stamps[4] + 40_000  # the second pass starts one period after the first ended


class FakeCapture:
    """Scripted cv2.VideoCapture: each item is (pos_msec, frame or None for a decode failure)."""

    def __init__(self, script, fps=25.0, opened=True):
        self.script = list(script)
        self.fps, self.opened, self.pos = fps, opened, -1

    def isOpened(self):  # noqa: N802
        return self.opened

    def grab(self):
        self.pos += 1
        return self.pos < len(self.script)

    def retrieve(self):
        frame = self.script[self.pos][1]
        return (frame is not None), frame

    def get(self, prop):
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self.script[self.pos][0]
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        return 0.0

    def set(self, prop, value):
        return True

    def release(self):
        pass


def _bgr(value: int) -> np.ndarray:
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0] = value  # blue channel in OpenCV's order
    return img


def test_broken_timestamps_are_repaired_and_decode_failures_skipped():
    script = [(0.0, _bgr(1)), (40.0, _bgr(2)), (40.0, _bgr(3)), (20.0, _bgr(4)), (float("nan"), _bgr(5)),
              (200.0, None), (240.0, _bgr(7))]
    reader = FrameReader(SourceSpec("file", "fake.mp4"), capture_factory=lambda target: FakeCapture(script))
    frames = list(reader)
    assert [int(f.image[0, 0, 2]) for f in frames] == [1, 2, 3, 4, 5, 7]  # BGR blue -> RGB index 2
    assert [f.timestamp for f in frames] == [0, 40_000, 80_000, 120_000, 160_000, 240_000]
    assert reader.repair.repairs == {"repeated": 1, "backwards": 1, "missing": 1}
    assert reader.stats["decode_failures"] == 1
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 6]


def test_lost_camera_is_retried_then_fails_clearly():
    opened = []

    def factory(target):
        opened.append(target)
        if len(opened) == 1:
            return FakeCapture([(0.0, _bgr(1)), (0.0, _bgr(2))])
        if len(opened) == 2:  # the first reconnect works and delivers one more frame
            return FakeCapture([(0.0, _bgr(3))])
        return FakeCapture([], opened=False)

    reader = FrameReader(SourceSpec("camera", 0), capture_factory=factory, retries=2, sleep=lambda s: None)
    got = []
    with pytest.raises(SourceLostError, match="camera 0 stopped delivering frames and 2 reconnect"):
        for frame in reader:
            got.append(frame)
    assert len(got) == 3 and len(opened) == 4
    assert all(b.timestamp > a.timestamp for a, b in zip(got, got[1:], strict=False))


def test_missing_camera_says_what_to_pass():
    reader = FrameReader(SourceSpec("camera", 7), capture_factory=lambda t: FakeCapture([], opened=False))
    with pytest.raises(SourceOpenError, match="--input path/to/video.mp4"):
        next(iter(reader))


def test_image_folder_glob_and_undecodable_files(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _bgr(10 * (i + 1)))
    (tmp_path / "3.png").write_bytes(b"not an image")
    reader = FrameReader(str(tmp_path), fps=10)
    frames = list(reader)
    assert [int(f.image[0, 0, 2]) for f in frames] == [10, 20, 30]
    assert [f.timestamp for f in frames] == [0, 100_000, 200_000]
    assert reader.stats["decode_failures"] == 1
    assert len(list(FrameReader(str(IMAGES / "mmpose_freihand_*.jpg")))) == 6


def test_classify_input(tmp_path):
    assert classify_input("0") == SourceSpec("camera", 0)
    assert classify_input("rtsp://cam/stream").kind == "stream"
    assert classify_input("http://host/clip.mp4").kind == "file"
    assert classify_input(str(VIDEO)).kind == "file"
    with pytest.raises(SourceOpenError, match="not a camera index"):
        classify_input(str(tmp_path / "missing.mp4"))


def test_resize_keeps_aspect():
    img = np.zeros((100, 200, 3), np.uint8)
    assert resize_to(img, height=50).shape == (50, 100, 3)
    assert resize_to(img) is img


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.integers(-10, 10**9).map(float)), max_size=60),
       st.floats(0, 240))
def test_repair_output_always_strictly_increases(raw, fps):
    repair = TimestampRepair(fps=fps)
    out = [repair(r) for r in raw]
    assert all(b > a for a, b in zip(out, out[1:], strict=False))
    good = [round(r) for r in raw if r is not None and math.isfinite(r) and r >= 0]
    if len(good) == len(raw) and all(b > a for a, b in zip(good, good[1:], strict=False)):
        assert out == [round(r) for r in raw] and repair.total_repairs == 0


def test_video_source_calculator_emits_rgb_frames_and_counts_decode_failures(tmp_path):
    from graphflow.testing import run_calculator

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _bgr(10 * (i + 1)))
    (tmp_path / "1b.png").write_bytes(b"broken")  # sorts between 1.png and 2.png
    out = run_calculator({"calculator": "VideoSource", "options": {"input": str(tmp_path), "fps": 20}})
    images = out["IMAGE"]
    assert [int(p.timestamp) for p in images] == [0, 50_000, 150_000]  # the broken file keeps its time slot
    assert [int(p.payload[0, 0, 2]) for p in images] == [10, 20, 30]
    assert [int(p.timestamp) for p in out["CAPTURE_TIME"]] == [0, 50_000, 150_000]
    from graphflow.graph import Graph

    stats = Graph.from_yaml({"nodes": [{"name": "source", "calculator": "VideoSource", "outputs": {"IMAGE": "image"},
                                        "options": {"input": str(tmp_path)}}]}).run(timeout=30)
    assert stats["nodes"]["source"]["counters"] == {"decode_failures": 1}
