"""NMS timing: the vectorised block NMS against the textbook greedy loop, in the same process.

    nice python benchmarks/nms.py              # 1 thread, prints JSON
    nice python benchmarks/nms.py --threads 2 --repeats 7

Inputs are RPN-like: boxes scattered around a few dozen object centres, so many overlap (IoU 0.7 is the RPN's
threshold, 0.5 the box head's). Both functions are checked to return the same indices before timing. Reports the
median of ``--repeats`` runs after one warm-up run, and the speed-up (loop median / vectorised median).
Where torchvision is importable (e.g. ``PYTHONPATH=. /work/tv-venv/bin/python benchmarks/nms.py``) its C++ kernel
is timed too, as a reference; our package never needs it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from tqdm import tqdm

from calculators.maskrcnn.nms import nms, nms_loop

try:
    from torchvision.ops import nms as torchvision_nms
except ImportError:
    torchvision_nms = None


def rpn_like_boxes(n: int, seed: int, image: float = 800.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    objects = torch.rand((40, 2), generator=g) * image
    sizes = 20 + torch.rand((40, 2), generator=g) * 200
    which = torch.randint(0, 40, (n,), generator=g)
    centre = objects[which] + torch.randn((n, 2), generator=g) * sizes[which] * 0.15
    wh = sizes[which] * (0.6 + 0.8 * torch.rand((n, 2), generator=g))
    return torch.cat([centre - wh / 2, centre + wh / 2], dim=1), torch.rand(n, generator=g)


def median_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = [(n, t) for n in args.sizes for t in (0.5, 0.7)]
    results = []
    for n, threshold in tqdm(cases, desc="nms cases"):
        boxes, scores = rpn_like_boxes(n, seed=n)
        kept = nms(boxes, scores, threshold)
        if not torch.equal(kept, nms_loop(boxes, scores, threshold)):
            raise AssertionError(f"nms and nms_loop disagree for n={n}, threshold={threshold}")
        fast = median_seconds(lambda b=boxes, s=scores, t=threshold: nms(b, s, t), args.repeats)
        loop = median_seconds(lambda b=boxes, s=scores, t=threshold: nms_loop(b, s, t), args.repeats)
        row = {
            "boxes": n,
            "iou_threshold": threshold,
            "kept": len(kept),
            "vectorised_ms": round(fast * 1e3, 2),
            "loop_ms": round(loop * 1e3, 2),
            "speedup": round(loop / fast, 1),
        }
        if torchvision_nms is not None:
            if not torch.equal(kept, torchvision_nms(boxes, scores, threshold)):
                raise AssertionError(f"nms and torchvision disagree for n={n}, threshold={threshold}")
            reference = median_seconds(lambda b=boxes, s=scores, t=threshold: torchvision_nms(b, s, t), args.repeats)
            row["torchvision_ms"] = round(reference * 1e3, 2)
            row["vectorised_over_torchvision"] = round(fast / reference, 1)
        results.append(row)
    print(
        json.dumps(
            {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__, "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
