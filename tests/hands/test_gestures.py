"""Gesture recognition: finger states and names, on schematic hands and on the labelled photographs.

``../shared/data/hands/images/mp_hagrid_<label>_*.jpg`` are labelled by file name (call, four, none, rock); the
two MediaPipe sample photos named thumb(s)-up are labelled too. Both MediaPipe's own landmarks (reference JSON) and
our pipeline's landmarks must give the labelled gesture.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from calculators.hands.gesture_overlay import draw_gesture_banner, gesture_text
from calculators.hands.gestures import GESTURES, classify_gesture, finger_states
from calculators.solutions import Hands
from calculators.types import HandLandmarks, NormalizedRect
from graphflow import Graph
from graphflow.testing import run_calculator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "hands"
# anti-aliased white text peaks at 251-255 depending on the OpenCV build; the darkened band under it stays <= 0.3
# of the frame (60 on these frames)
WHITE_TEXT_MIN = 230
LABELLED = {  # file -> the gesture it shows
    "mp_hagrid_call_0413d5c5.jpg": "call",
    "mp_hagrid_call_044768ad.jpg": "call",
    "mp_hagrid_four_06aa70cc.jpg": "four",
    "mp_hagrid_rock_026fd791.jpg": "rock",
    "mpsamples_gesture_recognizer_hand_thumb_up.jpg": "thumb_up",
    "mpsamples_hand_landmarker_thumbs-up.png": "thumb_up",
}
NO_GESTURE = "mp_hagrid_none_00af1db1.jpg"  # HaGRID "none": not one of the dataset's gesture classes


# ---- a schematic right hand, palm facing the camera, fingers up -------------------------------------------------
def schematic_hand(extended: tuple[bool, bool, bool, bool, bool], thumb_touches_index: bool = False) -> np.ndarray:
    """(21, 3) landmarks in a unit frame (y down): straight fingers point up, curled ones fold back to the palm."""
    pts = np.zeros((21, 3))
    pts[0, :2] = [0.0, 0.0]  # wrist
    bases = {1: -0.35, 2: -0.15, 3: 0.05, 4: 0.25}  # x of index..pinky MCPs
    for f, x in bases.items():
        mcp, pip, dip, tip = 4 * f + 1, 4 * f + 2, 4 * f + 3, 4 * f + 4
        pts[mcp, :2] = [x, -1.0]
        if extended[f]:
            pts[pip, :2], pts[dip, :2], pts[tip, :2] = [x, -1.4], [x, -1.65], [x, -1.85]
        else:  # curled towards the palm: the tip ends up below the PIP, nearer the wrist
            pts[pip, :2], pts[dip, :2], pts[tip, :2] = [x, -1.3], [x, -1.0], [x, -0.8]
    pts[1, :2] = [-0.35, -0.2]  # thumb CMC
    pts[2, :2] = [-0.6, -0.45]  # thumb MCP
    if thumb_touches_index:
        pts[3, :2], pts[4, :2] = [-0.55, -1.3], pts[8, :2] + [0.02, 0.02]
    elif extended[0]:
        pts[3, :2], pts[4, :2] = [-0.85, -0.65], [-1.05, -0.85]
    else:  # folded across the palm
        pts[3, :2], pts[4, :2] = [-0.35, -0.6], [-0.05, -0.65]
    return pts


def placed(pts: np.ndarray, angle: float, centre: tuple[float, float] = (0.5, 0.6), size: float = 0.15) -> np.ndarray:
    """The schematic hand rotated by ``angle`` (radians) and scaled into normalized image coordinates."""
    c, s = math.cos(angle), math.sin(angle)
    xy = pts[:, :2] @ np.array([[c, s], [-s, c]]) * size + np.array(centre)
    return np.concatenate([xy, pts[:, 2:]], axis=1)


SCHEMATIC = {
    "open_palm": (True, True, True, True, True),
    "four": (False, True, True, True, True),
    "fist": (False, False, False, False, False),
    "pointing": (False, True, False, False, False),
    "victory": (False, True, True, False, False),
    "call": (True, False, False, False, True),
    "rock": (False, True, False, False, True),
}


@pytest.mark.parametrize("angle", [0.0, 0.7, -1.2, math.pi])
@pytest.mark.parametrize("name", sorted(SCHEMATIC))
def test_schematic_gestures_at_any_in_plane_rotation(name: str, angle: float) -> None:
    lm = placed(schematic_hand(SCHEMATIC[name]), angle)
    assert finger_states(lm).as_tuple() == SCHEMATIC[name]
    assert classify_gesture(lm) == name


def test_ok_and_thumb_direction() -> None:
    ok = schematic_hand((False, False, True, True, True), thumb_touches_index=True)
    assert classify_gesture(placed(ok, 0.4)) == "ok"
    thumb_only = schematic_hand((True, False, False, False, False))
    mcp_to_tip = thumb_only[4, :2] - thumb_only[2, :2]
    upright = math.atan2(-mcp_to_tip[0], -mcp_to_tip[1])  # the rotation that points the thumb straight up
    assert classify_gesture(placed(thumb_only, upright)) == "thumb_up"
    assert classify_gesture(placed(thumb_only, upright + math.pi)) == "thumb_down"
    assert classify_gesture(placed(thumb_only, upright + math.pi / 2)) == "none", "thumb sideways"
    assert set(SCHEMATIC) | {"ok", "thumb_up", "thumb_down", "none"} <= set(GESTURES)


def test_labelled_photos_with_mediapipe_landmarks() -> None:
    ref = json.loads((DATA / "mediapipe_reference.json").read_text())["images"]
    for name, want in {**LABELLED, NO_GESTURE: None}.items():
        entry = ref[name]
        for complexity in (0, 1):
            (hand,) = entry[f"model_complexity_{complexity}"]["hands"]
            got = classify_gesture(np.array(hand["landmarks"]), (entry["width"], entry["height"]))
            if want is None:
                assert got not in {"call", "four", "rock", "open_palm"}, f"{name}: {got}"
            else:
                assert got == want, f"{name} (MediaPipe landmarks, complexity {complexity}): {got}"


@pytest.mark.parametrize("complexity", [0, 1])
def test_labelled_photos_through_our_pipeline(complexity: int) -> None:
    torch.set_num_threads(1)
    with Hands(static_image_mode=True, max_num_hands=1, model_complexity=complexity) as hands:
        for name, want in {**LABELLED, NO_GESTURE: None}.items():
            rgb = cv2.cvtColor(cv2.imread(str(DATA / "images" / name)), cv2.COLOR_BGR2RGB)
            (hand,) = hands.process(rgb).hands
            if want is None:
                assert hand.gesture not in {"call", "four", "rock", "open_palm"}, f"{name}: {hand.gesture}"
            else:
                assert hand.gesture == want, f"{name} (complexity {complexity}): {hand.gesture}"


def _hand(gesture: str, label: str = "Left") -> HandLandmarks:
    lm = placed(schematic_hand(SCHEMATIC["victory"]), 0.0).astype(np.float32)
    return HandLandmarks(lm, lm, label, 0.9, 0.9, NormalizedRect(0.5, 0.5, 0.3, 0.3), gesture=gesture)


def test_gesture_calculator_and_overlay() -> None:
    image = np.full((240, 320, 3), 200, np.uint8)
    hand = _hand("")
    named = run_calculator({"calculator": "HandGestures"}, {"HANDS": [(0, [hand])], "IMAGE": [(0, image)]})
    assert named["GESTURES"][0].payload == ["victory"]
    (labelled,) = named["HANDS_OUT"][0].payload
    assert labelled.gesture == "victory" and hand.gesture == "", "input hands are not modified"
    assert gesture_text([labelled, _hand("thumb_up", "Right")]) == "Left: victory | Right: thumb up"
    out = run_calculator({"calculator": "GestureOverlay"}, {"IMAGE": [(0, image), (1, image)],
                                                           "HANDS": [(0, [labelled]), (1, [])]})
    drawn, untouched = (p.payload for p in out["IMAGE_OUT"])
    assert untouched is image and np.all(image == 200), "no gesture: the frame passes through unmodified"
    changed_rows = np.nonzero(np.any(drawn != image, axis=(1, 2)))[0]
    band = draw_gesture_banner(image.copy(), [labelled])
    assert 0 < band < 60 and changed_rows.min() == 0 and changed_rows.max() < band, "banner only at the top"
    assert drawn[:band].max() >= WHITE_TEXT_MIN, "white text on the dark band"


def test_gesture_graph_renders_the_banner() -> None:
    torch.set_num_threads(1)
    rgb = cv2.cvtColor(cv2.imread(str(DATA / "images" / "mp_hagrid_rock_026fd791.jpg")), cv2.COLOR_BGR2RGB)
    graph = Graph.from_yaml(ROOT / "graphs" / "hand_gestures.yaml", executor="inline", static_image_mode=True,
                            model_complexity=0, max_num_hands=1)
    gestures, frames = graph.poller("gestures"), graph.poller("output_image")
    with graph:
        graph.start()
        graph.add_packet("image", rgb, 0)
        graph.wait_until_done(timeout=60)
    assert gestures.next(1).payload == ["rock"]
    out = frames.next(1).payload
    assert out.shape == rgb.shape and out is not rgb
    band = draw_gesture_banner(rgb.copy(), [_hand("rock")])
    assert np.mean(out[:band]) < 0.6 * np.mean(rgb[:band]), "the top band is darkened behind the text"
    assert out[:band].max() >= WHITE_TEXT_MIN, "the gesture text is written in it"
