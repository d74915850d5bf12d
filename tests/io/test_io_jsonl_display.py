"""JSONL records against their schema; the display queue and backends (fake backend, headless detection)."""

from __future__ import annotations

import json
import threading

import jsonschema
import numpy as np
import pytest
from fake_display import FakeDisplay
from io_reference import payloads
from test_io_drawing import synthetic_instances_and_cam

from calculators.io.display import (
    DisplayQueue,
    HeadlessDisplayError,
    OpenCVDisplay,
    highgui_available,
)
from calculators.io.jsonl import JSONL_SCHEMA, make_record


def test_full_record_matches_schema_and_round_trips():
    hands, palms, rois = payloads(100)
    _, inst, cam = synthetic_instances_and_cam()
    rec = make_record(
        100_000, 3, hands=hands, palm_detections=palms, hand_rois=rois, instances=inst, cam=cam,
        classes=list(cam.classes),
    )
    line = json.dumps(rec)
    back = json.loads(line)
    jsonschema.validate(back, JSONL_SCHEMA)
    assert back["timestamp_us"] == 100_000 and back["frame"] == 3
    np.testing.assert_allclose(back["hands"][0]["landmarks"], hands[0].landmarks, atol=1e-6)
    assert back["hands"][0]["handedness"] == hands[0].handedness
    assert [i["label"] for i in back["instances"]] == ["disk", "square"]
    assert back["instances"][0]["mask_area"] == int((inst.masks[0] > 0.5).sum())
    assert back["cam"]["classes"][0] == {"index": 3, "name": "tabby cat", "score": pytest.approx(0.62)}


def test_absent_results_leave_keys_out_and_empty_lists_stay():
    rec = make_record(5, 0, hands=[])
    assert rec == {"timestamp_us": 5, "frame": 0, "hands": []}
    jsonschema.validate(rec, JSONL_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**rec, "unknown": 1}, JSONL_SCHEMA)


def test_display_queue_shows_latest_frames_and_stops_on_q():
    queue = DisplayQueue()
    backend = FakeDisplay(quit_after=3)
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(50)]

    def producer():
        for f in frames:
            if queue.quit_requested.is_set():
                break
            queue.put("w", f)
            threading.Event().wait(0.002)
        queue.finish()

    t = threading.Thread(target=producer, name="producer")
    t.start()
    quit_pressed = queue.pump(backend, poll_ms=2)
    t.join()
    assert quit_pressed and queue.quit_requested.is_set() and backend.closed
    assert len(backend.frames) >= 3
    assert backend.thread_ids == {threading.get_ident()}  # shown on the pumping (main) thread only
    values = [int(img[0, 0, 0]) for _, img in backend.frames]
    assert values == sorted(values)


def test_display_queue_drains_then_returns_when_finished():
    queue = DisplayQueue()
    for i in range(5):
        queue.put("w", np.full((2, 2, 3), i, np.uint8))  # replaced: only the newest survives
    queue.finish()
    backend = FakeDisplay()
    assert queue.pump(backend) is False
    assert [int(img[0, 0, 0]) for _, img in backend.frames] == [4] and queue.replaced == 4


def test_escape_also_quits():
    queue = DisplayQueue()
    queue.put("w", np.zeros((2, 2, 3), np.uint8))
    assert queue.pump(FakeDisplay(keys=[27])) is True


def test_headless_opencv_is_reported_with_the_fix():
    if highgui_available():
        pytest.skip("this OpenCV has a GUI; the headless path cannot be observed here")
    with pytest.raises(HeadlessDisplayError, match="pip install 'opencv-python<5'"):
        OpenCVDisplay()
