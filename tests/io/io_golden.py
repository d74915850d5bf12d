"""Golden-image comparison with explicit tolerances; output, expected and diff are saved when it fails.

Tolerances follow MediaPipe's ImageFrameComparisonOptions: a pixel channel may differ by ``max_color_diff``
without counting; at most ``max_pixels_above`` pixels may exceed it; the mean absolute difference over all
channels must stay under ``max_avg_diff``. Anti-aliased lines and text differ by a few levels between OpenCV
builds, hence the defaults. Set ``GRAPHFLOW_UPDATE_GOLDEN=1`` to (re)write the golden files instead of comparing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@dataclass(frozen=True)
class Tolerance:
    max_color_diff: int = 24
    max_pixels_above: int = 60
    max_avg_diff: float = 0.6


def _save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), path


def compare_to_golden(
    actual: np.ndarray, name: str, failure_dir: Path, tol: Tolerance = Tolerance(), golden_dir: Path = GOLDEN_DIR
) -> None:
    """Assert ``actual`` (H, W, 3) uint8 RGB matches ``golden_dir/<name>.png`` within ``tol``."""
    golden_path = golden_dir / f"{name}.png"
    if os.environ.get("GRAPHFLOW_UPDATE_GOLDEN") == "1":
        _save(golden_path, actual)
        return
    assert golden_path.exists(), f"no golden image {golden_path}; run with GRAPHFLOW_UPDATE_GOLDEN=1 to create it"
    expected = cv2.cvtColor(cv2.imread(str(golden_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != golden {expected.shape}"
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16)).astype(np.uint8)
    above = int((diff.max(axis=2) > tol.max_color_diff).sum())
    avg = float(diff.mean())
    if above > tol.max_pixels_above or avg > tol.max_avg_diff:
        _save(failure_dir / f"{name}_actual.png", actual)
        _save(failure_dir / f"{name}_expected.png", expected)
        _save(failure_dir / f"{name}_diff.png", np.clip(diff.astype(np.int32) * 4, 0, 255).astype(np.uint8))
        raise AssertionError(
            f"{name}: {above} pixels differ by more than {tol.max_color_diff} (allowed {tol.max_pixels_above}), "
            f"mean abs diff {avg:.3f} (allowed {tol.max_avg_diff}); actual/expected/diff saved in {failure_dir}"
        )
