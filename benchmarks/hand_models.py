"""Per-model latency of the MediaPipe Hands networks: torch (as the model store ships them) vs the LiteRT interpreter.

For each model (palm_detection_lite/full, hand_landmark_lite/full) and thread count, the LiteRT interpreter and the
torch variants run on the same input (a real hand image letterboxed to the model's input size) in one process,
interleaved call by call (order rotated every round) so that load from other processes hits all of them alike.
Prints JSON: median and p90 ms per call, the ratio torch/LiteRT of the medians, and the largest output difference
against LiteRT.

Variants: ``torch`` (the shipped module: palm NCHW, landmark channels_last, inference_mode), ``torch_cl`` /
``torch_nchw`` (the other memory format), ``torch_compile`` (``--compile``:
``model_store.compile_for_cpu_inference``, inductor with frozen weights; compile time reported), ``onnxruntime`` and
``openvino`` (the ONNX export of the torch module, ``calculators/hands/backends.py``; each network on ``threads``
threads of its own runtime). ``--retain-heap``
sets glibc's mmap/trim thresholds so freed activation buffers stay mapped
(fewer page faults per call; a process-wide setting, hence opt-in).

    python benchmarks/hand_models.py --threads 1 2 --runs 50
    python benchmarks/hand_models.py --variants torch onnxruntime openvino
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from calculators import model_store

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / ".." / "shared" / "data" / "hands" / "images" / "mpsamples_gesture_recognizer_hand_thumb_up.jpg"
MODEL_NAMES = ["palm_detection_lite", "palm_detection_full", "hand_landmark_lite", "hand_landmark_full"]
INPUT_SIZE = {"palm_detection": 192, "hand_landmark": 224}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def retain_heap(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Ask glibc malloc to serve blocks below ``mmap_threshold`` from the heap and to keep up to
    ``trim_threshold`` bytes of freed heap (mallopt M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1), so each forward
    pass reuses already-mapped pages instead of mmap/munmap + page faults for every activation (the largest here is
    3.2 MB). Same as starting Python with ``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456``.
    Returns False where it does not apply (not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, mmap_threshold)) and bool(libc.mallopt(-1, trim_threshold))
    except (OSError, AttributeError):
        return False


def model_input(name: str) -> np.ndarray:
    """(1, S, S, 3) float32 NHWC in [0, 1]: the thumbs-up photo letterboxed (zero bars) to the model's size."""
    size = INPUT_SIZE[name.rsplit("_", 1)[0]]
    image = cv2.imread(str(IMAGE))
    if image is None:  # no shared data: a fixed noise image still times the same work
        return np.random.default_rng(0).random((1, size, size, 3), dtype=np.float32)
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    out = np.zeros((size, size, 3), np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA) / 255.0
    return out[None]


def _litert_runner(name: str, x: np.ndarray, threads: int) -> tuple[Callable[[], list[np.ndarray]], list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_store.tflite_path(name)), num_threads=threads)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    outputs = sorted(interpreter.get_output_details(), key=lambda d: d["name"])  # Identity, Identity_1, ...

    def run() -> list[np.ndarray]:
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in outputs]

    return run, [d["name"] for d in outputs]


def _torch_runner(net: torch.nn.Module, x: np.ndarray) -> Callable[[], list[np.ndarray]]:
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # (1, 3, S, S)

    def run() -> list[np.ndarray]:
        with torch.inference_mode():
            return [t.numpy() for t in net(xt)]

    return run


def _backend_runner(name: str, backend: str, x: np.ndarray, threads: int) -> Callable[[], list[np.ndarray]]:
    from calculators.hands.model_runner import make_runner

    runner = make_runner(name, backend, num_threads=threads)
    xc = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # (1, 3, S, S)

    def run() -> list[np.ndarray]:
        return list(runner(xc))

    return run


def benchmark_model(name: str, threads: int = 1, runs: int = 50, warmup: int = 10,
                    variants: tuple[str, ...] = ("torch",), progress: bool = True) -> list[dict]:
    """Time LiteRT and the torch ``variants`` of model ``name`` on one input, interleaved; one dict per variant.

    Each dict: model, threads, variant, median_ms, p90_ms, ratio_vs_litert (median / LiteRT median),
    max_abs_diff_vs_litert (over all outputs), and compile_s for torch_compile.
    """
    torch.set_num_threads(threads)
    x = model_input(name)
    litert, _ = _litert_runner(name, x, threads)
    runners: dict[str, Callable[[], list[np.ndarray]]] = {"litert": litert}
    extra: dict[str, dict] = {}
    for variant in variants:
        net = model_store.load_model(name)
        if variant == "torch_cl":
            net.memory_format = torch.channels_last
        elif variant == "torch_nchw":
            net.memory_format = torch.contiguous_format
        elif variant == "torch_compile":
            start = time.perf_counter()
            net = model_store.compile_for_cpu_inference(net, torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
            extra[variant] = {"compile_s": round(time.perf_counter() - start, 1)}
        elif variant in ("onnxruntime", "openvino"):
            runners[variant] = _backend_runner(name, variant, x, threads)
            continue
        elif variant != "torch":
            raise ValueError(f"unknown variant {variant!r}")
        runners[variant] = _torch_runner(net, x)
    reference = litert()
    times: dict[str, list[float]] = {k: [] for k in runners}
    keys = list(runners)
    for i in tqdm(range(warmup + runs), desc=f"{name} x{threads}", disable=not progress, leave=False):
        # rotate the order each round: whoever runs right after another engine finds colder caches
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:
            start = time.perf_counter()
            runners[key]()
            if i >= warmup:
                times[key].append(time.perf_counter() - start)
    base = statistics.median(times["litert"])
    results = []
    for key, samples in times.items():
        med = statistics.median(samples)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(runners[key](), reference, strict=True))
        results.append({"model": name, "threads": threads, "variant": key,
                        "median_ms": round(med * 1e3, 3),
                        "p90_ms": round(float(np.percentile(samples, 90)) * 1e3, 3),
                        "ratio_vs_litert": round(med / base, 2),
                        "max_abs_diff_vs_litert": diff, **extra.get(key, {})})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODEL_NAMES, choices=MODEL_NAMES)
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--variants", nargs="+", default=["torch"],
                        choices=["torch", "torch_cl", "torch_nchw", "torch_compile", "onnxruntime", "openvino"])
    parser.add_argument("--compile", action="store_true", help="add the torch_compile variant (slow to build)")
    parser.add_argument("--retain-heap", action="store_true", help="glibc mallopt: keep freed buffers mapped")
    args = parser.parse_args(argv)
    variants = tuple(args.variants) + (("torch_compile",) if args.compile and "torch_compile" not in args.variants
                                       else ())
    heap = retain_heap() if args.retain_heap else False
    load_before = os.getloadavg()
    results = [r for name in args.models for threads in args.threads
               for r in benchmark_model(name, threads, args.runs, args.warmup, variants)]
    report = {
        "benchmark": "hand_models",
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "settings": {"runs": args.runs, "warmup": args.warmup, "retain_heap": heap,
                     "input": IMAGE.name if IMAGE.is_file() else "noise"},
        "results": results,
    }
    try:
        from importlib.metadata import version

        report["versions"]["ai_edge_litert"] = version("ai-edge-litert")
    except Exception:  # metadata is informative only
        pass
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
