"""RerunSink writes an .rrd recording with every kind of result (runs where the optional rerun-sdk is installed)."""

from __future__ import annotations

from io_reference import payloads, video_frame
from test_io_drawing import synthetic_instances_and_cam

from graphflow.testing import run_calculator

try:  # in the test extra, so CI exercises the sink: a missing package is an error here, not a skip
    import rerun  # noqa: F401
except ImportError as exc:
    raise ImportError("rerun-sdk is missing: pip install -e '.[test]' (RerunSink's tests need it)") from exc


def test_rerun_sink_saves_a_recording(tmp_path):
    image = video_frame(100)
    hands, palms, rois = payloads(100)
    small, inst, cam = synthetic_instances_and_cam()
    path = tmp_path / "run.rrd"
    out = run_calculator(
        {"calculator": "RerunSink", "options": {"save": str(path), "jpeg_quality": 80}},
        {"IMAGE": [(0, image), (40_000, image)], "HANDS": [(0, hands), (40_000, [])], "PALMS": [(0, palms)],
         "ROIS": [(0, rois)], "CLASSES": [(40_000, list(cam.classes))]},
    )
    assert out == {}
    assert path.stat().st_size > 10_000  # two JPEG frames plus annotations
    path2 = tmp_path / "inst.rrd"
    run_calculator({"calculator": "RerunSink", "options": {"save": str(path2)}},
                   {"IMAGE": [(0, small)], "INSTANCES": [(0, inst)], "CAM": [(0, cam)]})
    assert path2.stat().st_size > small.nbytes  # the raw frame at least
