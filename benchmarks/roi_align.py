"""RoIAlign timing: our sparse-matrix RoIAlign, forward and forward+backward, against torchvision's kernel.

    nice python benchmarks/roi_align.py                                   # ours only (torchvision not installed)
    PYTHONPATH=. nice /work/tv-venv/bin/python benchmarks/roi_align.py     # ours and torchvision, same process

Cases are the Mask R-CNN shapes at 800 px: 1000 proposals pooled 7x7 from a (1, 256, 200, 200) stride-4 map, and
100 detections pooled 14x14; sampling_ratio 2, aligned False. Outputs are checked to agree (max abs diff) before
timing. Reports the median of ``--repeats`` runs after a warm-up, and ours / torchvision where available.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from tqdm import tqdm

from calculators.maskrcnn.roi_align import roi_align

try:
    from torchvision.ops import roi_align as torchvision_roi_align
except ImportError:
    torchvision_roi_align = None


def random_rois(n: int, seed: int, image: float = 800.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand((n, 2), generator=g) * (image - 100)
    wh = 8 + torch.rand((n, 2), generator=g) ** 2 * 300
    return torch.cat([torch.zeros((n, 1)), xy, xy + wh], dim=1)


def median_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_op(op, features: torch.Tensor, rois: torch.Tensor, size: int, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median milliseconds of ``op`` forward, and of forward + backward to the features."""
    leaf = features.clone().requires_grad_(True)

    def forward() -> None:
        op(features, rois, (size, size), 0.25, 2, False)

    def forward_backward() -> None:
        op(leaf, rois, (size, size), 0.25, 2, False).sum().backward()

    return 1e3 * median_seconds(forward, repeats), 1e3 * median_seconds(forward_backward, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    features = torch.randn((1, 256, 200, 200), generator=torch.Generator().manual_seed(0))
    results = []
    for num_rois, size in tqdm([(1000, 7), (100, 14)], desc="roi_align cases"):
        rois = random_rois(num_rois, seed=num_rois)
        row: dict[str, object] = {"rois": num_rois, "output": size, "channels": 256, "map": "200x200"}
        fwd, fwd_bwd = time_op(roi_align, features, rois, size, args.repeats)
        row.update(ours_forward_ms=round(fwd, 1), ours_fwd_bwd_ms=round(fwd_bwd, 1))
        if torchvision_roi_align is not None:
            ours = roi_align(features, rois, (size, size), 0.25, 2, False)
            theirs = torchvision_roi_align(features, rois, (size, size), 0.25, 2, False)
            tv_fwd, tv_fwd_bwd = time_op(torchvision_roi_align, features, rois, size, args.repeats)
            row.update(
                max_abs_diff=float((ours - theirs).abs().max()),
                torchvision_forward_ms=round(tv_fwd, 1),
                torchvision_fwd_bwd_ms=round(tv_fwd_bwd, 1),
                ours_over_torchvision_forward=round(fwd / tv_fwd, 2),
                ours_over_torchvision_fwd_bwd=round(fwd_bwd / tv_fwd_bwd, 2),
            )
        results.append(row)
    print(
        json.dumps(
            {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__, "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
