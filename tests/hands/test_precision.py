"""The hand networks' ``precision`` option: f32 (the default, held to MediaPipe in ``test_agreement.py``) or bf16
(OpenVINO on a CPU with bf16 units), which trades agreement for speed.

On a CPU with bf16 units the bf16 run is compared with MediaPipe 0.10.21's own outputs on the shared photos: it
must really run in reduced precision (landmarks move from f32's) and stay within the looser bounds the README
quotes. On a CPU without them, asking for bf16 must fail at construction (the graph opens there) with the
one-line reason; which of the two ran is the test's id (``bf16_units`` / ``no_bf16_units``), so a CI log says it.
The refusal is also checked everywhere by hiding the capability from the check.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_agreement import DATA, GRAPH, landmark_diff, read_rgb, reference

from calculators.hands import backends
from calculators.hands.backends import OPENVINO_BF16_CAPABILITY, OPENVINO_DEVICE, check_precision
from calculators.solutions import Hands
from graphflow import Graph
from graphflow.errors import ConfigError, GraphError

# bf16 against MediaPipe on the 23 photos (2-core Xeon with AMX, 2026-12-02): landmark x, y max-abs per hand median
# 1.8e-3 (lite) / 2.4e-3 (full), worst 1.8e-2 / 1.3e-2, hand counts equal on 23 of 23; f32 on the same run: median
# 1.3e-5 / 1.8e-5. Bounds about 2x over what was measured.
BF16_MEDIAN, BF16_WORST = 5e-3, 4e-2
BF16_COUNT_SHARE = 0.95  # photos whose hand count equals MediaPipe's
BF16_MIN_SHIFT = 1e-4  # median move from the f32 landmarks: the reduced precision really ran


def cpu_has_bf16() -> bool:
    import openvino as ov

    return OPENVINO_BF16_CAPABILITY in ov.Core().get_property(OPENVINO_DEVICE, "OPTIMIZATION_CAPABILITIES")


def test_precision_choices_are_checked() -> None:
    assert check_precision("f32", "torch") == "f32"
    with pytest.raises(ValueError, match="precision must be one of f32, bf16, got 'fp8'"):
        check_precision("fp8", "openvino")
    with pytest.raises(ValueError, match="runs on backend openvino only .*backend 'torch'"):
        Hands(backend="torch", precision="bf16")
    with pytest.raises(ValueError, match="runs on backend openvino only .*backend 'onnxruntime'"):
        Hands(backend="onnxruntime", precision="bf16")


def test_graph_option_names_the_node() -> None:
    with pytest.raises(ConfigError, match=r"palm_detection.yaml:\d+: node 'palm_detection/palm_model'.*precision"):
        Graph.from_yaml(GRAPH, backend="torch", precision="bf16")


def assert_refused(complexity: int) -> None:
    """Hands() opens its graph at once: a CPU without bf16 units fails there, naming the node and the fix."""
    refusal = "palm_model.*precision 'bf16' needs a CPU with bf16 units .*use precision: f32"
    with pytest.raises(GraphError, match=refusal):
        Hands(model_complexity=complexity, precision="bf16")


def test_bf16_refused_without_bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "OPENVINO_BF16_CAPABILITY", "NO_SUCH_UNIT")
    assert_refused(0)


def static_landmarks(precision: str, complexity: int) -> tuple[list[np.ndarray | None], list[int]]:
    """Per photo: our landmarks (None where the hand count differs from MediaPipe's) and our hand count."""
    ref = reference()
    settings = ref["settings"]
    ours, counts = [], []
    with Hands(static_image_mode=True, max_num_hands=settings["max_num_hands"], model_complexity=complexity,
               min_detection_confidence=settings["min_detection_confidence"],
               min_tracking_confidence=settings["min_tracking_confidence"], precision=precision) as hands:
        for name in sorted(ref["images"]):
            got = hands.process(read_rgb(DATA / "images" / name)).hands
            want = ref["images"][name][f"model_complexity_{complexity}"]["hands"]
            counts.append(len(got))
            ours.append(np.stack([h.landmarks for h in got]) if len(got) == len(want) and got else None)
    return ours, counts


@pytest.mark.parametrize("complexity", [0, 1])
@pytest.mark.parametrize("units", ["bf16_units" if cpu_has_bf16() else "no_bf16_units"])
def test_bf16_agreement_or_refusal(units: str, complexity: int) -> None:
    if units == "no_bf16_units":
        assert_refused(complexity)
        return
    ref = reference()
    names = sorted(ref["images"])
    bf16, counts = static_landmarks("bf16", complexity)
    f32, _ = static_landmarks("f32", complexity)
    wanted = [len(ref["images"][n][f"model_complexity_{complexity}"]["hands"]) for n in names]
    same_count = sum(c == w for c, w in zip(counts, wanted, strict=True))
    assert same_count >= BF16_COUNT_SHARE * len(names), f"hand counts equal on {same_count} of {len(names)}"
    diffs, shifts = [], []
    for name, ours, exact in zip(names, bf16, f32, strict=True):
        if ours is None:
            continue
        theirs = ref["images"][name][f"model_complexity_{complexity}"]["hands"]
        diffs += [landmark_diff(o, t["landmarks"]) for o, t in zip(ours, theirs, strict=True)]
        if exact is not None and exact.shape == ours.shape:
            shifts.append(float(np.abs(ours[..., :2] - exact[..., :2]).max()))
    median, worst = float(np.median(diffs)), float(np.max(diffs))
    assert median <= BF16_MEDIAN and worst <= BF16_WORST, f"bf16 vs MediaPipe: median {median:.2e}, worst {worst:.2e}"
    assert float(np.median(shifts)) >= BF16_MIN_SHIFT, "bf16 gave f32's landmarks: the precision was not applied"
