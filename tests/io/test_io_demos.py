"""The demos run with one command: the robot loop headless for two seconds, and the offline video processor."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from io_reference import VIDEO

DEMOS = Path(__file__).resolve().parents[2] / "demos"

torch.set_num_threads(1)


def load_demo(name: str):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_robot_loop_runs_headless_and_reports_jitter(capsys):
    report = load_demo("robot_loop").main(["--input", str(VIDEO), "--seconds", "2", "--quiet"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(report))
    # loose bounds: CI machines are shared; the numbers themselves are the report, not a benchmark
    assert 50 <= report["ticks"] <= 201
    assert 5.0 < report["period_ms"]["p50"] < 20.0
    assert report["jitter_ms"]["std"] >= 0 and report["jitter_ms"]["p99_abs"] >= 0
    assert report["frames_pushed"] >= 20 and report["poses_received"] >= 5
    assert report["frames_refused"] == 0  # the flow limiter takes every push without blocking
    assert report["pose_age_ms"]["p50"] > 0


def test_process_video_demo_writes_video_and_jsonl(tmp_path, capsys):
    out, jsonl = tmp_path / "p.mp4", tmp_path / "p.jsonl"
    rc = load_demo("process_video").main([str(VIDEO), "--output", str(out), "--jsonl", str(jsonl),
                                          "--max-frames", "5"])
    assert rc == 0 and out.stat().st_size > 0
    assert len(jsonl.read_text().splitlines()) == 5
    assert capsys.readouterr().out.startswith("5 frames, ")


def test_combined_demo_renders_all_three_branches(tmp_path):
    out, jsonl = tmp_path / "c.mp4", tmp_path / "c.jsonl"
    rc = load_demo("combined").main(["--input", str(VIDEO), "--output", str(out), "--jsonl", str(jsonl),
                                     "--max-frames", "3"])
    assert rc == 0 and out.stat().st_size > 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 3
    for rec in records:  # one line per frame with every branch's result at that timestamp
        assert {"hands", "palm_detections", "hand_rois", "cam", "instances"} <= set(rec)
        assert len(rec["cam"]["classes"]) == 1
