"""``graphflow run`` on the media path honours every flag: --stats, --stats-json, --trace, --executor, --timeout,
progress (bar on a terminal, lines in a log), --quiet; flags that cannot apply are refused in one line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
from io_reference import VIDEO

from graphflow.cli import main as cli
from graphflow.progress import Progress

REPO = Path(__file__).resolve().parents[2]
PASS_GRAPH = ("input_streams: [image]\noutput_streams: [same]\nnodes:\n"
              "  - {calculator: PassThrough, inputs: {IN: image}, outputs: {OUT: same}}\n")


def _pass_graph(tmp_path: Path) -> Path:
    path = tmp_path / "pass.yaml"
    path.write_text(PASS_GRAPH)
    return path


def _graphflow(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "graphflow.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _span_threads(trace: Path) -> tuple[set[int], dict[str, int]]:
    events = json.loads(trace.read_text())["traceEvents"]
    spans = {e["tid"] for e in events if e.get("ph") == "X" and e.get("cat") == "process"}
    names = {e["args"]["name"]: e["tid"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    return spans, names


def test_media_run_prints_stats_and_writes_stats_json_and_trace(tmp_path, capsys):
    graph, out = _pass_graph(tmp_path), tmp_path / "out.mp4"
    stats_json, trace = tmp_path / "stats.json", tmp_path / "trace.json"
    rc = cli(["run", str(graph), "--input", str(VIDEO), "--max-frames", "6", "--output", str(out), "--stats",
              "--stats-json", str(stats_json), "--trace", str(trace), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    table = captured.out.splitlines()
    assert table[0].split()[:3] == ["node", "calculator", "calls"]
    rows = {line.split()[0]: line.split() for line in table[2:] if line and not line.startswith("total")}
    assert rows["source"][1] == "VideoSource" and rows["renderer"][2] == "6"
    doc = json.loads(stats_json.read_text())
    assert doc["nodes"]["video_writer"]["process_calls"] == 6 and doc["streams"]["gf_rendered"]["packets"] == 6
    events = json.loads(trace.read_text())["traceEvents"]
    spans = [e["name"] for e in events if e.get("ph") == "X"]
    assert spans.count("renderer") == 6 and spans.count("video_writer") == 6
    progress = [line for line in captured.err.splitlines() if "frames" in line and "run ended" not in line]
    assert f"trace written to {trace}" in captured.err and progress == []  # --quiet: no progress lines


def test_executor_flag_reaches_the_media_graph(tmp_path, capsys):
    graph = _pass_graph(tmp_path)
    threads_seen = {}
    for executor in ("inline", "threads"):
        trace = tmp_path / f"{executor}.json"
        assert cli(["run", str(graph), "--input", str(VIDEO), "--max-frames", "5", "--output",
                    str(tmp_path / "x.mp4"), "--trace", str(trace), "--executor", executor, "--quiet"]) == 0
        threads_seen[executor] = _span_threads(trace)
    spans, names = threads_seen["inline"]
    assert spans == {names["graphflow-app-wait"]}  # inline: every process() on the thread that waits
    spans, names = threads_seen["threads"]
    assert names["graphflow-app-wait"] not in spans and spans  # threads: on the executor's workers
    capsys.readouterr()


def test_timeout_stops_a_looping_run_finalises_the_video_and_exits_1(tmp_path):
    graph, out = _pass_graph(tmp_path), tmp_path / "loop.mp4"
    done = _graphflow(str(graph), "--input", str(VIDEO), "--loop", "--output", str(out), "--timeout", "2",
                      "--stats", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "--timeout 2 s reached" in done.stderr and "gave up" in done.stderr.splitlines()[-1]
    assert "renderer" in done.stdout  # --stats still prints what ran
    reader = cv2.VideoCapture(str(out))
    ok, frame = reader.read()
    assert ok and frame.shape[:2] == (360, 640)  # the file was finalised: it opens and decodes
    reader.release()


def test_progress_lines_when_not_a_terminal_and_none_with_quiet(tmp_path):
    graph = _pass_graph(tmp_path)
    args = [str(graph), "--input", str(VIDEO), "--max-frames", "8", "--output", str(tmp_path / "o.mp4")]
    done = _graphflow(*args, cwd=tmp_path)  # stderr is a pipe: plain lines, no bar redraws
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " frames, " in line]
    assert lines and lines[-1].startswith("pass on hand_landmarker_test_video.mp4: 8/8 frames, ")
    assert "\r" not in done.stderr
    quiet = _graphflow(*args, "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and " frames, " not in quiet.stderr


def test_progress_draws_a_line_every_interval_in_a_log_and_a_bar_on_a_terminal():
    now = [0.0]
    log = io.StringIO()
    bar = Progress(total=100, live=False, label="clip", stream=log, enabled=True, tty=False, interval_s=5.0,
                   clock=lambda: now[0])
    for step in range(1, 13):  # 12 s, a frame every second
        now[0] = float(step)
        bar.frame(40.0)
        bar.update(dropped=step // 4)
    bar.close(dropped=3)
    lines = log.getvalue().splitlines()
    assert [line.split(":")[1].split()[0] for line in lines] == ["5/100", "10/100", "12/100"]
    assert lines[0] == "clip: 5/100 frames, 1.0 fps, dropped 1, latency 40 ms"
    term = io.StringIO()
    term.isatty = lambda: True  # what a terminal answers
    bar = Progress(total=10, live=False, label="clip", stream=term, enabled=True)
    for _ in range(10):
        bar.frame(None)
    bar.update(dropped=0)
    bar.close(dropped=0)
    assert "10/10" in term.getvalue() and "\r" in term.getvalue()  # tqdm's bar, redrawn in place


def test_flags_that_cannot_apply_are_refused_in_one_line(tmp_path, capsys):
    graph = _pass_graph(tmp_path)
    assert cli(["run", str(graph), "--input", str(VIDEO), "--serve-stream", "same"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--serve-stream" in err[0] and "--serve" in err[0]
    own = tmp_path / "own.yaml"
    own.write_text(f"output_streams: [f]\nnodes:\n  - {{calculator: VideoSource, outputs: {{IMAGE: f}}, "
                   f"options: {{input: '{VIDEO}', max_frames: 3}}}}\n")
    assert cli(["run", str(own), "--loop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--loop/--max-frames" in err[0]
    assert cli(["run", str(graph), "--input", str(VIDEO), "--serve", "no-port"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[HOST:]PORT" in err[0]
    assert cli(["run", str(graph), "--input", str(VIDEO), "--serve-fps", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--serve-fps" in err[0] and "needs --serve" in err[0]
    for bad in ("-1", "nan", "inf"):
        assert cli(["run", str(graph), "--input", str(VIDEO), "--serve", "127.0.0.1:0", "--serve-fps", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--serve-fps" in err[0] and ">= 0" in err[0], err


def test_engine_only_runs_show_progress_too(tmp_path, capsys):
    own = tmp_path / "own.yaml"
    own.write_text(f"output_streams: [f]\nnodes:\n  - {{calculator: VideoSource, outputs: {{IMAGE: f}}, "
                   f"options: {{input: '{VIDEO}', max_frames: 7}}}}\n")
    assert cli(["run", str(own)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err and err[-1].startswith("own: 7 packets, ") and "dropped 0" in err[-1]
    assert cli(["run", str(own), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
