"""How ``graphflow run`` treats its inputs and outputs as a user breaks them: an output naming the input, sink
paths that leave their folder or need a directory made, existing files, truncated and junk inputs (with and
without ``--loop``), names with brackets, unopenable URLs, negative counts, and the end-of-run summary."""

from __future__ import annotations

import io
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from io_reference import VIDEO

from calculators.io.app import run_app
from calculators.io.frame_reader import FrameReader, NoFramesError, classify_input
from calculators.types import Classification
from graphflow import Calculator, ConfigError, Context, Graph, GraphError, Input, Output, register_calculator
from graphflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
MOOV_END = 5625  # the test video's ftyp + moov boxes end here; its frames (mdat) follow
TRUNCATED_BYTES = 55_625  # 24 of its 202 frames still decode
RUN_ENDS_WITHIN_S = 20.0  # a bad --loop input must end the run, not spin (it used to reopen the file forever)


@register_calculator("IoOutputsMean")
class MeanCalculator(Calculator):
    """One classification per frame: its mean brightness (test helper).

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Outputs: CLASSES - list[Classification]
    """

    IMAGE = Input(np.ndarray)
    CLASSES = Output(list)

    @dataclass
    class Options:
        pass

    def process(self, ctx: Context) -> None:
        ctx.emit("CLASSES", [Classification(0, "mean", float(ctx.get("IMAGE").mean()) / 255.0)])


APP = """
input_streams: [image]
output_streams: [classes]
nodes:
  # Why: a cheap result per frame, so the renderer and the JSONL sink both have something to write.
  - calculator: IoOutputsMean
    inputs: {IMAGE: image}
    outputs: {CLASSES: classes}
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(APP)
    return path


def run(app: Path, **kwargs) -> tuple[int, str]:
    stream = io.StringIO()
    rc = run_app(app, progress=False, stream=stream, **kwargs)
    return rc, stream.getvalue()


# --- an output naming the input -------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["output", "jsonl"])
def test_an_output_that_is_the_input_is_refused_and_the_input_survives(app, tmp_path, flag):
    source = tmp_path / "in.mp4"
    shutil.copy(VIDEO, source)
    before = source.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(source)
    for name in (str(source), str(link), f"{tmp_path}/./in.mp4"):
        rc, text = run(app, input=str(source), **{flag: name})
        assert rc == 2 and text.count("\n") == 1, text
        assert "would destroy the input" in text and f"--{flag}" in text
    assert source.read_bytes() == before


def test_two_outputs_naming_one_file_are_refused(app, tmp_path):
    rc, text = run(app, input=str(VIDEO), output=str(tmp_path / "x.mp4"), jsonl=str(tmp_path / "x.mp4"))
    assert rc == 2 and "name the same file" in text


# --- sink paths -----------------------------------------------------------------------------------------------
def test_an_image_pattern_cannot_leave_its_folder(tmp_path):
    folder = tmp_path / "a" / "frames"
    folder.parent.mkdir()
    graph = Graph.from_yaml({
        "input_streams": ["image"],
        "nodes": [{"calculator": "ImageFolderSink", "inputs": {"IMAGE": "image"},
                   "options": {"folder": str(folder), "pattern": "../../escaped_{index}.png"}}],
    })
    with pytest.raises(GraphError) as info:
        graph.start()
    assert "outside the folder" in str(info.value.__cause__)
    assert list(tmp_path.glob("escaped_*")) == []


def test_a_video_sink_makes_no_directories(tmp_path):
    target = tmp_path / "made" / "up" / "out.mp4"
    graph = Graph.from_yaml({
        "input_streams": ["image"],
        "nodes": [{"calculator": "VideoWriterSink", "inputs": {"IMAGE": "image"}, "options": {"path": str(target)}}],
    })
    with pytest.raises(GraphError) as info:
        graph.start()
    assert f"directory '{target.parent}' does not exist; create it first" in str(info.value.__cause__)
    assert not (tmp_path / "made").exists()


def test_a_jsonl_sink_that_gets_no_packet_leaves_an_existing_file_alone(tmp_path):
    target = tmp_path / "results.jsonl"
    target.write_text('{"kept": true}\n')
    graph = Graph.from_yaml({
        "input_streams": ["classes"],
        "nodes": [{"calculator": "JsonlSink", "inputs": {"CLASSES": "classes"}, "options": {"path": str(target)}}],
    })
    graph.start()
    graph.close()
    assert target.read_text() == '{"kept": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]  # no temporary file left


def test_a_jsonl_sink_with_no_input_is_refused_at_validation_with_file_and_line(tmp_path, capsys):
    graph = tmp_path / "sink.yaml"
    graph.write_text("nodes:\n  # Why: a sink whose inputs were forgotten.\n  - calculator: JsonlSink\n"
                     "    options: {path: out.jsonl}\n")
    assert main(["validate", str(graph)]) == 2
    err = capsys.readouterr().err
    assert f"{graph}:3:" in err and "needs at least one of its inputs HANDS" in err
    assert not (tmp_path / "out.jsonl").exists()


# --- inputs that give nothing ---------------------------------------------------------------------------------
@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.mp4"
    path.write_bytes(VIDEO.read_bytes()[:TRUNCATED_BYTES])
    return path


def test_a_truncated_video_says_what_was_missing(app, tmp_path, truncated):
    rc, text = run(app, input=str(truncated), jsonl=str(tmp_path / "r.jsonl"))
    assert rc == 0
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    summary = text.strip().splitlines()[-1]
    assert summary.startswith(f"graphflow: run ended: {len(lines)} frames read, {len(lines)} through the graph")
    assert f"{202 - len(lines)} missing (the file ends before its frame count" in summary, summary
    assert f"wrote {len(lines)} JSONL lines" in summary


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("case", ["no_decodable_frame", "start_past_the_end", "junk_images"])
def test_an_input_that_yields_no_frame_is_an_error_not_a_spin(app, tmp_path, case, loop):
    options: dict = {}
    if case == "no_decodable_frame":
        source = tmp_path / "empty.mp4"
        source.write_bytes(VIDEO.read_bytes()[:MOOV_END + 100])  # opens (the index is there) but decodes nothing
    elif case == "start_past_the_end":
        source, options = VIDEO, {"start": 60.0}
    else:
        source = tmp_path / "junk"
        source.mkdir()
        for i in range(3):
            (source / f"{i}.jpg").write_bytes(b"not a jpeg at all")
    t0 = time.monotonic()
    rc, text = run(app, input=str(source), loop=loop, jsonl=str(tmp_path / "r.jsonl"), **options)
    assert time.monotonic() - t0 < RUN_ENDS_WITHIN_S
    assert rc == 2 and "gave no frame" in text, text
    if case == "junk_images":
        assert "3 undecodable" in text
    assert not (tmp_path / "r.jsonl").exists()


def test_image_folder_end_is_a_time_within_each_pass(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    image = np.full((8, 8, 3), 100, np.uint8)
    import cv2

    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), image)
    frames = list(FrameReader(str(folder), loop=True, end=0.05, max_frames=6))  # 30 fps: 2 images per pass
    assert len(frames) == 6
    period = round(1e6 / 30)
    lap = 5 * period  # each pass's timestamps follow the last pass's
    assert [f.timestamp for f in frames] == [0, period, lap, lap + period, 2 * lap, 2 * lap + period]


def test_a_stop_request_ends_a_reader_that_is_skipping_bad_frames(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    for i in range(50):
        (folder / f"{i}.jpg").write_bytes(b"junk")
    loads: list[str] = []

    def loader(path: str):
        loads.append(path)
        return None

    reader = FrameReader(str(folder), image_loader=loader, should_stop=lambda: len(loads) >= 5)
    assert list(reader) == []
    assert len(loads) == 5
    with pytest.raises(NoFramesError):
        list(FrameReader(str(folder), image_loader=lambda p: None))


# --- rough edges ----------------------------------------------------------------------------------------------
def test_names_with_brackets_are_files_not_globs(tmp_path):
    video = tmp_path / "clip[1].mp4"
    shutil.copy(VIDEO, video)
    assert classify_input(str(video)).kind == "file"
    image = tmp_path / "shot[2].png"
    image.write_bytes(b"")
    assert classify_input(str(image)).target == [str(image)]


def test_an_unopenable_stream_url_exits_2_like_a_missing_file(app):
    t0 = time.monotonic()
    rc, text = run(app, input="http://127.0.0.1:9/live", retries=0)
    assert rc == 2 and text.count("\n") == 1 and "127.0.0.1:9" in text, text
    assert time.monotonic() - t0 < RUN_ENDS_WITHIN_S


def test_negative_counts_are_refused(app, capsys):
    assert main(["run", str(app), "--input", str(VIDEO), "--max-frames", "-1"]) == 2
    assert "--max-frames must be >= 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="max_num_hands' must be at least 1, got -3"):
        Graph.from_yaml(ROOT / "graphs" / "hand_tracking.yaml", max_num_hands=-3)
    assert main(["run", str(ROOT / "graphs" / "hand_tracking.yaml"), "--input", str(VIDEO),
                 "-O", "max_num_hands=-3"]) == 2
