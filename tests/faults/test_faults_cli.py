"""Ctrl-C (SIGINT) during ``graphflow run``, in a real subprocess: clean exit 130, one line, output files finalised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from calculators.io.output_file import temp_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VIDEO = REPO / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"

APP_GRAPH = """
# An app graph (graph input 'image') whose only node is a slow stand-in for a model.
input_streams: [image]
output_streams: [slow]
allow_imports: [faults_calcs]
nodes:
  # Why: 50 ms per frame, so the run is still going when the test sends SIGINT.
  - calculator: faults_calcs:FaultSlowImage
    inputs: {IMAGE: image}
    outputs: {IMAGE_OUT: slow}
    options: {delay: 0.05}
"""

ENGINE_GRAPH = """
# A self-contained graph: an endless source and a file sink that writes END in close().
allow_imports: [faults_calcs]
nodes:
  # Why: produces until interrupted (a million packets, 10 ms apart).
  - calculator: faults_calcs:FaultSource
    outputs: {OUT: numbers}
    options: {count: 1000000, delay: 0.01}
  # Why: its close() finalises the file; the test checks that it ran.
  - calculator: faults_calcs:FaultLineSink
    inputs: {IN: numbers}
    options: {path: PATH}
"""


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "graphflow", "run", "--allow-import", "faults_calcs", *args],
                            cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def partial_video(proc: subprocess.Popen[str], video: Path) -> Path:
    """The temporary file the run writes ``video`` under until it is finalised."""
    return temp_path(video, proc.pid)


def wait_for(proc: subprocess.Popen[str], ready: Path, min_size: int) -> None:
    """Wait until ``ready`` holds ``min_size`` bytes (the run is under way)."""
    deadline = time.monotonic() + 60
    while not (ready.exists() and ready.stat().st_size >= min_size):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out, err = proc.communicate(timeout=5)
            pytest.fail(f"run ended or stalled before the interrupt (rc={proc.returncode}): {err[-2000:]}")
        time.sleep(0.05)


def finish(proc: subprocess.Popen[str], within: float = 20.0) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate(timeout=5)
        pytest.fail(f"graphflow run did not exit within {within} s of Ctrl-C: {err[-2000:]}")
    return proc.returncode, err


def interrupt_when(proc: subprocess.Popen[str], ready: Path, min_size: int) -> tuple[int, str]:
    """Send SIGINT once ``ready`` holds ``min_size`` bytes; return (exit code, stderr)."""
    wait_for(proc, ready, min_size)
    proc.send_signal(signal.SIGINT)
    return finish(proc)


def playable_frames(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while cap.grab():
        frames += 1
    cap.release()
    return frames


def test_ctrl_c_during_an_app_run_finalises_the_video(tmp_path):
    graph = tmp_path / "slow_app.yaml"
    graph.write_text(APP_GRAPH)
    video = tmp_path / "out.mp4"
    proc = start([str(graph), "--input", str(VIDEO), "--loop", "--output", str(video)])
    rc, err = interrupt_when(proc, partial_video(proc, video), 1)
    assert rc == 130, err
    assert "Traceback" not in err and "stopping" in err
    assert playable_frames(video) >= 1  # the container was finalised: the frames written are readable
    assert not partial_video(proc, video).exists()


@pytest.mark.parametrize("gap", [0.05, 0.5])
def test_a_second_ctrl_c_abandons_the_drain_and_exits_130_with_the_video_finalised(tmp_path, gap):
    """Two SIGINTs ``gap`` s apart while the slow node still has a queue of frames to drain (about 5 s of work):
    the run must exit 130 within seconds, not hang in interpreter shutdown, and leave a playable mp4."""
    graph = tmp_path / "slow_app.yaml"
    graph.write_text(APP_GRAPH)
    video = tmp_path / "out.mp4"
    proc = start([str(graph), "--input", str(VIDEO), "--loop", "--output", str(video)])
    wait_for(proc, partial_video(proc, video), 1)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap)
    proc.send_signal(signal.SIGINT)
    rc, err = finish(proc, within=20.0)
    assert rc == 130, err
    assert "Traceback" not in err and "abandoning the drain" in err, err
    assert playable_frames(video) >= 1
    assert not partial_video(proc, video).exists()


def test_ctrl_c_during_an_engine_only_run_closes_every_node(tmp_path):
    lines = tmp_path / "lines.txt"
    graph = tmp_path / "endless.yaml"
    graph.write_text(ENGINE_GRAPH.replace("PATH", str(lines)))
    proc = start([str(graph)])
    rc, err = interrupt_when(proc, lines, 40)
    assert rc == 130, err
    assert "Traceback" not in err and "interrupted" in err
    text = lines.read_text().splitlines()
    assert text[-1] == "END", text[-3:]  # close() ran: the file was finalised
    assert len(text) >= 5


def test_run_timeout_still_closes_every_node(tmp_path, capsys):
    from graphflow.cli import main

    lines = tmp_path / "lines.txt"
    graph = tmp_path / "endless.yaml"
    graph.write_text(ENGINE_GRAPH.replace("PATH", str(lines)))
    sys.path.insert(0, str(HERE))  # faults_calcs, as the subprocess tests get it from PYTHONPATH
    try:
        assert main(["run", str(graph), "--allow-import", "faults_calcs", "--timeout", "0.3"]) == 2
    finally:
        sys.path.remove(str(HERE))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "timed out after 0.3 s" in err
    assert lines.read_text().splitlines()[-1] == "END"
