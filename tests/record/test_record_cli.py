"""``graphflow record | replay | info`` as users run them: Ctrl-C (a real SIGINT) and a kill -9 of a real recording
process, then the file read back; info and message printing."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from graphflow.cli import main
from graphflow.record import Recording

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
GRAPH = """
# A cheap app graph: frames in, the same frames out (what is recorded is the point, not the model).
input_streams: [image]
output_streams: [frames]
nodes:
  # Why: an output stream to record next to the input.
  - calculator: PassThrough
    inputs: {IN: image}
    outputs: {OUT: frames}
"""
MIN_BYTES = 150_000  # a few flushed chunks


def start_recording(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    graph = tmp_path / "frames.yaml"
    graph.write_text(GRAPH)
    out = tmp_path / "run.mcap"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "graphflow", "record", str(graph), "--input", str(VIDEO), "--loop",
                             "--width", "160", "--height", "120", "-o", str(out)],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size >= MIN_BYTES):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate(timeout=5)
            pytest.fail(f"record ended or stalled before the signal (rc={proc.returncode}): {err[-2000:]}")
        time.sleep(0.05)
    return proc, out


def test_ctrl_c_during_record_leaves_a_complete_readable_file(tmp_path: Path) -> None:
    proc, out = start_recording(tmp_path)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopping: finishing the recording" in err and "wrote" in err and "Traceback" not in err
    with open(out, "rb") as f:  # the plain mcap reader finds the summary section: the file was finished
        summary = make_reader(f).get_summary()
    assert summary is not None and summary.statistics.message_count > 0
    rec = Recording(out)
    images = [p for p in rec.packets(["image"], bounds=False)]
    assert not rec.truncated and rec.summary_metadata is not None
    counts = json.loads(rec.summary_metadata["packets"])
    assert counts["image"] == len(images) > 3 and counts["frames"] > 0
    assert all(b.timestamp_us > a.timestamp_us for a, b in zip(images, images[1:], strict=False))
    assert images[0].payload.shape == (120, 160, 3)


def test_a_killed_recorder_leaves_a_file_that_replays_up_to_the_cut(tmp_path: Path) -> None:
    proc, out = start_recording(tmp_path)
    proc.kill()  # SIGKILL: no handler, no summary, possibly mid-chunk
    proc.communicate(timeout=30)
    rec = Recording(out)
    images = [p.payload for p in rec.packets(["image"], bounds=False)]
    assert rec.truncated and len(images) > 3
    assert all(isinstance(i, np.ndarray) and i.shape == (120, 160, 3) for i in images)


def test_a_full_disk_ends_record_with_one_line_and_a_readable_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every write past 300 kB fail (EFBIG), as a full disk does (ENOSPC), without root."""
    graph = tmp_path / "frames.yaml"
    graph.write_text(GRAPH)
    out = tmp_path / "full.mcap"
    limit = 300_000

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "graphflow", "record", str(graph), "--input", str(VIDEO),
                           "--loop", "--width", "160", "--height", "120", "-o", str(out)],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=60, preexec_fn=small_disk)
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower() or "incomplete" in ln]
    assert len(errors) == 1 and "File too large" in errors[0] and "Traceback" not in proc.stderr
    rec = Recording(out)
    assert len([p for p in rec.packets(["image"], bounds=False)]) > 1 and rec.truncated


def test_info_and_replay_without_a_graph_print_the_recording(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "frames.yaml"
    graph.write_text(GRAPH)
    out = tmp_path / "short.mcap"
    assert main(["record", str(graph), "--input", str(VIDEO), "--max-frames", "3", "--width", "64",
                 "--height", "48", "-o", str(out)]) == 0
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "foxglove.RawImage" in text and "image" in text and "frames" in text and "3 s" not in text
    assert main(["replay", str(out), "--speed", "0", "--streams", "image"]) == 0
    printed = capsys.readouterr().out.splitlines()
    lines = [ln for ln in printed if "image" in ln and "ndarray" in ln]
    assert len(lines) == 3 and "ndarray uint8 (48, 64, 3)" in lines[0]
    assert any("image" in ln and "bound -> DONE" in ln for ln in printed)  # the input's close, recorded
    assert main(["info", str(tmp_path / "frames.yaml")]) == 2  # not MCAP: one line, exit 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an MCAP file" in err
    replayed = tmp_path / "replayed.mcap"
    assert main(["replay", str(out), str(graph), "--speed", "0", "-o", str(replayed)]) == 0
    original = [p.data for p in Recording(out).packets(["frames"], bounds=False)]
    assert [p.data for p in Recording(replayed).packets(["frames"], bounds=False)] == original
    capsys.readouterr()
    dropping = tmp_path / "dropping.yaml"  # a live graph's queue: drops when full, by timing
    dropping.write_text(GRAPH.replace("{IN: image}", "{IN: {stream: image, queue_size: 1, queue_policy: drop_oldest}}"))
    assert main(["replay", str(out), str(dropping), "--speed", "0", "-o", str(tmp_path / "r2.mcap")]) == 0
    assert "the drop policies of PassThrough.IN (drop_oldest) block instead (lossless)" in capsys.readouterr().err
    assert len([p for p in Recording(tmp_path / "r2.mcap").packets(["frames"], bounds=False)]) == 3
