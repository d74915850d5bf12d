"""run_app end to end: the hand graph on the test video (mp4 + JSONL), the window sink on a fake display,
Ctrl-C, the flow limiter, and the one-line answers to bad usage."""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
import torch
from fake_display import FakeDisplay
from io_reference import VIDEO

from calculators.io import app as app_module
from calculators.io.app import NO_INPUT_MESSAGE, run_app
from calculators.io.display import highgui_available
from calculators.io.jsonl import JSONL_SCHEMA
from calculators.io.output_file import temp_path
from calculators.types import Classification
from graphflow import Calculator, Context, Input, Output, register_calculator
from graphflow.progress import Progress

HAND_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "hand_tracking.yaml"

torch.set_num_threads(1)


@register_calculator("IoTestBrightness")
class BrightnessCalculator(Calculator):
    """Classifies a frame as bright or dark (test helper); sleeps ``delay`` seconds to act like a slow model.

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Outputs: CLASSES - list[Classification]
    Options: delay - seconds per frame
    """

    IMAGE = Input(np.ndarray)
    CLASSES = Output(list)

    @dataclass
    class Options:
        delay: float = 0.0

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        if self.options.delay:
            time.sleep(self.options.delay)
        mean = float(image.mean()) / 255.0
        ctx.emit("CLASSES", [Classification(int(mean > 0.5), "bright" if mean > 0.5 else "dark", mean)])


@register_calculator("IoTestFailAt")
class FailingCalculator(Calculator):
    """Raises on its fifth frame (test helper).

    Inputs:  IMAGE - np.ndarray
    Outputs: CLASSES - list
    """

    IMAGE = Input(np.ndarray)
    CLASSES = Output(list)

    def open(self, ctx: Context) -> None:
        self.n = 0

    def process(self, ctx: Context) -> None:
        self.n += 1
        if self.n == 5:
            raise ValueError("synthetic failure on frame 5")
        ctx.emit("CLASSES", [])


def app_graph(tmp_path, calculator: str = "IoTestBrightness", options: str = "{}") -> str:
    """A one-node app graph: image -> calculator -> classes."""
    path = tmp_path / f"{calculator}.yaml"
    path.write_text(
        "input_streams: [image]\noutput_streams: [classes]\nnodes:\n"
        f"  - name: classify\n    calculator: {calculator}\n    inputs: {{IMAGE: image}}\n"
        f"    outputs: {{CLASSES: classes}}\n    options: {options}\n"
    )
    return str(path)


def frame_count(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_hand_graph_on_video_writes_mp4_and_jsonl_matching_the_graph_outputs(tmp_path):
    seen: list[tuple[int, int]] = []
    out, jsonl = tmp_path / "hands.mp4", tmp_path / "hands.jsonl"
    rc = run_app(
        HAND_GRAPH, input=str(VIDEO), output=str(out), jsonl=str(jsonl), max_frames=25, progress=False,
        options={"num_threads": 1},
        observers={"hands": lambda p: seen.append((int(p.timestamp), len(p.payload)))},
    )
    assert rc == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for rec in records:
        jsonschema.validate(rec, JSONL_SCHEMA)
    assert len(records) == 25 == len(seen)
    assert [(r["timestamp_us"], len(r["hands"])) for r in records] == seen
    assert [r["timestamp_us"] for r in records] == [40_000 * i for i in range(25)]
    assert sum(n for _, n in seen) >= 20  # the video shows one hand nearly all the time
    assert frame_count(out) == 25


def test_window_sink_on_fake_display_quits_cleanly_on_q(tmp_path):
    display = FakeDisplay(quit_after=5)
    out = tmp_path / "shown.mp4"
    rc = run_app(app_graph(tmp_path), input=str(VIDEO), output=str(out), show=True, display=display,
                 realtime=True, progress=False)
    assert rc == 0
    assert len(display.frames) >= 5 and display.closed
    assert display.thread_ids == {threading.get_ident()}  # drawn on the main thread only
    window, first = display.frames[0]
    assert window == "graphflow" and first.shape == (360, 640, 3)
    n = frame_count(out)  # the writer was finalised: the file is readable
    assert 5 <= n < 202


def test_ctrl_c_stops_the_source_and_finalises_outputs(tmp_path):
    class InterruptingDisplay(FakeDisplay):
        def poll_key(self, delay_ms: int) -> int:
            if len(self.frames) >= 3:
                raise KeyboardInterrupt
            return super().poll_key(delay_ms)

    out, jsonl = tmp_path / "int.mp4", tmp_path / "int.jsonl"
    stream = io.StringIO()
    rc = run_app(app_graph(tmp_path), input=str(VIDEO), output=str(out), jsonl=str(jsonl), show=True,
                 display=InterruptingDisplay(), realtime=True, progress=False, stream=stream)
    assert rc == 130 and "stopping" in stream.getvalue()
    lines = jsonl.read_text().splitlines()
    assert 3 <= len(lines) < 202
    assert frame_count(out) == len(lines)


def test_flow_limiter_drops_frames_for_a_slow_graph_and_counts_them(tmp_path):
    seen: list[int] = []
    jsonl = tmp_path / "lim.jsonl"
    rc = run_app(app_graph(tmp_path, options="{delay: 0.02}"), input=str(VIDEO), jsonl=str(jsonl), output=None,
                 flow_limit=True, max_frames=60, progress=False,
                 observers={"classes": lambda p: seen.append(int(p.timestamp))})
    assert rc == 0
    stamps = [json.loads(line)["timestamp_us"] for line in jsonl.read_text().splitlines()]
    assert stamps == seen and 1 <= len(stamps) < 60
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))


def test_image_folder_sink(tmp_path):
    rc = run_app(app_graph(tmp_path), input=str(VIDEO), images_dir=str(tmp_path / "frames"), max_frames=3,
                 progress=False)
    assert rc == 0
    files = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert files == ["000000.png", "000001.png", "000002.png"]
    assert cv2.imread(str(tmp_path / "frames" / files[0])).shape == (360, 640, 3)


def test_no_input_and_no_camera_says_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "camera_available", lambda index=0: False)
    stream = io.StringIO()
    t0 = time.monotonic()
    assert run_app(app_graph(tmp_path), stream=stream) == 2
    assert time.monotonic() - t0 < 5
    assert stream.getvalue().strip() == f"graphflow: {NO_INPUT_MESSAGE}"
    assert "--input path/to/video.mp4" in NO_INPUT_MESSAGE


def test_missing_camera_index_fails_fast_with_exit_2(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "camera_available", lambda index=0: False)
    stream = io.StringIO()
    assert run_app(app_graph(tmp_path), input="3", stream=stream) == 2
    assert stream.getvalue().startswith("graphflow: no camera at index 3; pass a video file")
    stream = io.StringIO()  # a self-contained graph whose own source is camera 0
    live_graph = HAND_GRAPH.with_name("hand_tracking_live.yaml")
    assert run_app(live_graph, display=FakeDisplay(), stream=stream) == 2
    assert stream.getvalue().strip() == f"graphflow: {NO_INPUT_MESSAGE}"


def test_show_on_headless_opencv_explains_the_fix(tmp_path):
    if highgui_available():
        pytest.skip("this OpenCV has a GUI")
    stream = io.StringIO()
    assert run_app(app_graph(tmp_path), input=str(VIDEO), show=True, stream=stream) == 2
    assert "pip install 'opencv-python<5'" in stream.getvalue()


def test_bad_input_and_failing_node_give_one_line_and_exit_codes(tmp_path):
    stream = io.StringIO()
    assert run_app(app_graph(tmp_path), input=str(tmp_path / "missing.mp4"), stream=stream) == 2
    assert "is not a camera index, a URL" in stream.getvalue()
    stream = io.StringIO()
    assert run_app(app_graph(tmp_path, "IoTestFailAt"), input=str(VIDEO), progress=False, stream=stream) == 1
    assert "node 'app/classify' failed: ValueError: synthetic failure on frame 5" in stream.getvalue()


def test_live_graph_runs_on_a_file_with_the_fake_display(tmp_path):
    display = FakeDisplay(quit_after=3)
    live_graph = HAND_GRAPH.with_name("hand_tracking_live.yaml")
    rc = run_app(live_graph, input=str(VIDEO), display=display, options={"model_complexity": 0}, progress=False)
    assert rc == 0 and len(display.frames) >= 3 and display.closed
    assert display.frames[0][0] == "graphflow hands"


def test_graphflow_run_cli_matches_the_hand_graph_fed_directly(tmp_path):
    import subprocess
    import sys

    from calculators.io.frame_reader import FrameReader
    from graphflow.graph import Graph

    out, jsonl = tmp_path / "cli.mp4", tmp_path / "cli.jsonl"
    cmd = [sys.executable, "-m", "graphflow.cli", "run", str(HAND_GRAPH), "--input", str(VIDEO), "--output", str(out),
           "--jsonl", str(jsonl), "--max-frames", "10", "-O", "num_threads=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from_cli = [(r["timestamp_us"], len(r["hands"])) for r in map(json.loads, jsonl.read_text().splitlines())]
    assert frame_count(out) == 10

    direct = []
    with Graph.from_yaml(HAND_GRAPH, num_threads=1) as graph:
        poller = graph.poller("hands")
        graph.start()
        for frame in FrameReader(str(VIDEO), max_frames=10):
            graph.add_packet("image", frame.image, frame.timestamp)
        graph.close_all_inputs()
        direct = [(int(p.timestamp), len(p.payload)) for p in poller]
    assert from_cli == direct and len(direct) == 10


def test_live_stats_line_shows_frames_fps_drops_and_latency():
    stream = io.StringIO()
    bar = Progress(total=0, live=True, label="hands on camera 0", stream=stream, enabled=True, tty=True)
    for latency in (50.0, 70.0):
        bar.frame(latency)
    bar._last_line = -1e9
    bar.update(dropped=7)
    bar.close(dropped=7)
    line = stream.getvalue()
    assert line.startswith("\rhands on camera 0: 2 frames, ") and "dropped 7, latency 52 ms" in line


def test_sigint_to_graphflow_run_finalises_the_video_and_exits_130(tmp_path):
    import signal
    import subprocess
    import sys

    graph = tmp_path / "pass.yaml"
    graph.write_text("input_streams: [image]\noutput_streams: [same]\nnodes:\n"
                     "  - {calculator: PassThrough, inputs: {IN: image}, outputs: {OUT: same}}\n")
    out = tmp_path / "loop.mp4"
    cmd = [sys.executable, "-m", "graphflow.cli", "run", str(graph), "--input", str(VIDEO), "--loop",
           "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        partial = temp_path(out, proc.pid)  # the video is written under this name until it is finalised
        while not (partial.exists() and partial.stat().st_size > 0) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopping" in err
    assert frame_count(out) > 0  # the writer was closed properly: the file is playable
