"""Renderer drawing: golden images with tolerances, plus the properties golden images cannot show."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from io_golden import Tolerance, compare_to_golden
from io_reference import payloads, video_frame

from calculators.io.drawing import (
    RenderOptions,
    draw_heatmap,
    draw_instances,
    hand_connections,
    nearness,
    render_frame,
    shade,
)
from calculators.types import ClassActivation, Classification, Instances

FRAME = 100  # a frame where MediaPipe found one hand, palm detection included


def _small(image: np.ndarray) -> np.ndarray:
    """(360, 640) frame -> (180, 320): goldens stay small."""
    return cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def hand_frame():
    return _small(video_frame(FRAME)), payloads(FRAME)


def synthetic_instances_and_cam(h: int = 120, w: int = 160) -> tuple[np.ndarray, Instances, ClassActivation]:
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = (xx * 255 // w).astype(np.uint8)
    image[..., 2] = (yy * 255 // h).astype(np.uint8)
    disk = ((xx - 50) ** 2 + (yy - 60) ** 2 < 25**2).astype(np.float32)
    square = ((xx >= 95) & (xx < 145) & (yy >= 20) & (yy < 70)).astype(np.float32)
    inst = Instances(
        boxes=np.array([[25, 35, 75, 85], [95, 20, 145, 70]], np.float32),
        labels=np.array([1, 2], np.int64),
        scores=np.array([0.93, 0.71], np.float32),
        masks=np.stack([disk * 0.9, square * 0.8]),
        class_names=("background", "disk", "square"),
        image_size=(h, w),
    )
    heat = np.exp(-(((xx - 110) / 30.0) ** 2 + ((yy - 50) / 25.0) ** 2)).astype(np.float32)
    cam = ClassActivation(
        classes=(Classification(3, "tabby cat", 0.62), Classification(7, "tiger cat", 0.21)),
        logits=np.zeros(10, np.float32),
        cams_raw=heat[None, ::8, ::8].copy(),
        cams=heat[None],
        boxes=np.array([[80, 25, 140, 75]], np.float32),
    )
    return image, inst, cam


def test_hands_palms_rois_hud_golden(hand_frame, tmp_path):
    image, (hands, palms, rois) = hand_frame
    out = render_frame(image, hands=hands, palms=palms, rois=rois, fps=24.7, latency_ms=38.0)
    compare_to_golden(out, "hands_palms_rois_hud", tmp_path)


def test_hands_only_golden(hand_frame, tmp_path):
    image, (hands, _, _) = hand_frame
    out = render_frame(image, hands=hands, options=RenderOptions(hud=False, hand_labels=False))
    compare_to_golden(out, "hands_only", tmp_path)


def test_instances_cam_classes_golden(tmp_path):
    image, inst, cam = synthetic_instances_and_cam()
    out = render_frame(image, instances=inst, cam=cam, classes=list(cam.classes), fps=None, latency_ms=None)
    compare_to_golden(out, "instances_cam_classes", tmp_path)


def test_golden_comparison_fails_and_saves_diff(hand_frame, tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHFLOW_UPDATE_GOLDEN", raising=False)
    image, (hands, palms, rois) = hand_frame
    expected = render_frame(image, hands=hands, palms=palms, rois=rois, fps=24.7, latency_ms=38.0)
    golden_dir, failures = tmp_path / "golden", tmp_path / "failures"
    golden_dir.mkdir()
    cv2.imwrite(str(golden_dir / "probe.png"), cv2.cvtColor(expected, cv2.COLOR_RGB2BGR))
    compare_to_golden(expected.copy(), "probe", failures, golden_dir=golden_dir)  # identical: passes
    broken = expected.copy()
    broken[40:80, 40:80] = 255 - broken[40:80, 40:80]
    with pytest.raises(AssertionError, match="pixels differ"):
        compare_to_golden(broken, "probe", failures, Tolerance(), golden_dir=golden_dir)
    assert sorted(p.name for p in failures.iterdir()) == ["probe_actual.png", "probe_diff.png", "probe_expected.png"]


def test_render_never_modifies_its_input(hand_frame):
    image, (hands, palms, rois) = hand_frame
    before = image.copy()
    _, inst, cam = synthetic_instances_and_cam(*image.shape[:2])
    render_frame(image, hands=hands, palms=palms, rois=rois, instances=inst, cam=cam, fps=1.0, latency_ms=1.0)
    np.testing.assert_array_equal(image, before)


def test_depth_shading_nearer_is_lighter_and_larger():
    z = np.array([0.0, -0.1, 0.05])
    t = nearness(z)
    assert t.argmax() == 1 and t.argmin() == 2  # smallest z = nearest
    far, near = shade((100, 50, 200), 0.0), shade((100, 50, 200), 1.0)
    assert sum(near) > sum(far)
    # radius grows with nearness: draw one hand whose index tip is much nearer than everything else
    image = np.zeros((240, 240, 3), np.uint8)
    hands, _, _ = payloads(FRAME)
    lm = hands[0].landmarks.copy()
    lm[:, 2] = 0.0
    lm[8, 2] = -0.2  # index tip near
    lm[20, 2] = 0.2  # pinky tip far
    from dataclasses import replace

    from calculators.io.drawing import draw_hand, to_pixels

    isolated = lm.copy()
    isolated[:, :2] = [[0.5, 0.5]] * 21
    isolated[8, :2] = [0.25, 0.25]
    isolated[20, :2] = [0.75, 0.75]
    draw_hand(image, replace(hands[0], landmarks=isolated), show_label=False)
    px = to_pixels(isolated, 240, 240)

    def blob(p: np.ndarray) -> tuple[int, float]:
        patch = image[p[1] - 12 : p[1] + 13, p[0] - 12 : p[0] + 13].astype(np.float32)
        lit = patch.max(axis=2) > 0
        return int(lit.sum()), float(patch[lit].mean())

    near_area, near_light = blob(px[8])
    far_area, far_light = blob(px[20])
    assert near_area > far_area and near_light > far_light


def test_hand_topology_is_the_21_point_skeleton():
    bones = hand_connections()
    assert len(bones) == 21  # 4 per finger + 5 palm edges
    assert {i for a, b, _ in bones for i in (a, b)} == set(range(21))


def test_mask_and_heatmap_blending_are_exact():
    image = np.full((10, 10, 3), 100, np.uint8)
    inst = Instances(
        boxes=np.array([[0, 0, 5, 5]], np.float32), labels=np.array([0]), scores=np.array([1.0], np.float32),
        masks=np.pad(np.ones((4, 4), np.float32), ((0, 6), (0, 6)))[None], image_size=(10, 10),
    )
    out = image.copy()
    draw_instances(out, inst, alpha=0.5, score_threshold=2.0)  # below threshold: nothing drawn
    np.testing.assert_array_equal(out, image)
    heat = np.zeros((10, 10), np.float32)
    draw_heatmap(out, heat, alpha=0.0)
    np.testing.assert_array_equal(out, image)
    draw_heatmap(out, heat, alpha=1.0)  # JET at 0 is dark blue
    assert (out[..., 2] > out[..., 0]).all()
