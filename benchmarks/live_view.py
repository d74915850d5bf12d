"""What the live view (``--serve``) costs the graph: hand tracking frames/s with and without a watcher.

The graph is ``run_app``'s wrapper around ``graphs/hand_tracking.yaml`` on the shared video (VideoSource -> hand
tracking -> Renderer), as fast as it goes (file input, no flow limiter), in three configurations, interleaved
``--runs`` times in one process so the ratios compare like with like:

- ``none``: no server (the renderer still runs, so only serving is measured);
- ``client``: the server plus one watcher doing what the page does (long-poll every new frame, stats twice a
  second) in a separate process (``--watch URL``): what a browser on *another* machine costs this one, plus the
  watcher's own small share of the same cores (its CPU time is reported);
- ``chromium``: the server plus a real headless Chromium showing the page on this machine (its decoding and
  drawing compete for the same cores: the worst case of a laptop watching itself).

The serving threads' own CPU time (the server's event loop and its executor threads, read per thread from
/proc) is reported as a share of the whole process's CPU over the run (``serving_cpu_share``): on a machine the
graph keeps busy, that share is what serving takes from the graph, measured without the noise of wall-clock fps.

fps is counted over the rendered frames after the first ``WARMUP_FRAMES`` (model load and warm-up excluded), and so
is the process's CPU time per frame (all its threads: graph and server). The machine is shared: wall-clock fps
swings with other people's work, CPU per frame much less; both are reported, as medians over interleaved runs.

    flock /tmp/bench.lock python benchmarks/live_view.py [--runs 3] [--frames 202] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.io.app import _RENDERED, _STOP, build_app_graph  # noqa: E402
from calculators.io.live_view import start_live_view  # noqa: E402
from graphflow.graph import Graph  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
HAND_GRAPH = ROOT / "graphs" / "hand_tracking.yaml"
WARMUP_FRAMES = 10
STATS_PERIOD_S = 0.5
CASES = ("none", "client", "chromium")


def _watch_like_the_page(url: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Long-poll frames and poll stats every STATS_PERIOD_S, as live.js does, until ``stop``."""
    seq, next_stats = -1, 0.0
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}api/frame?after={seq}", timeout=5) as r:
                if r.status == 200:
                    r.read()
                    seq = int(r.headers["X-Frame-Seq"])
                    counts["frames"] += 1
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + STATS_PERIOD_S
                with urllib.request.urlopen(url + "api/stats", timeout=5) as r:
                    r.read()
                    counts["stats"] += 1
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)


def _chromium(url: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(url)
    return driver


def _thread_cpu_s(native_id: int) -> float:
    """utime + stime of one thread of this process (Linux /proc)."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serving_cpu_s() -> float:
    """CPU seconds of the live view's threads so far: its event loop and the loop's executor threads."""
    total = 0.0
    for t in threading.enumerate():
        if t.name == "graphflow-live-view" or t.name.startswith("asyncio_"):
            try:
                total += _thread_cpu_s(t.native_id)
            except (OSError, IndexError):
                pass
    return total


def run_once(case: str, frames: int) -> dict[str, float]:
    app = Graph.from_yaml(HAND_GRAPH)
    source = {"input": str(VIDEO), "max_frames": frames, "loop": frames > 202}
    graph = Graph.from_yaml(build_app_graph(HAND_GRAPH, app, source, live=False, serve=True))
    times: list[tuple[float, float]] = []
    graph.observe(_RENDERED, lambda p: times.append((time.perf_counter(), time.process_time())))
    server = driver = watcher = None
    stop = threading.Event()
    counts = {"frames": 0, "stats": 0}
    if case != "none":
        server = start_live_view(graph, "127.0.0.1:0", stream=_RENDERED, title="benchmark", out=open(os.devnull, "w"))
    if case == "client":
        watcher = subprocess.Popen([sys.executable, __file__, "--watch", server.url], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
    elif case == "chromium":
        driver = _chromium(server.url)
    serving_cpu = 0.0
    cpu0 = time.process_time()
    try:
        graph.start({_STOP: threading.Event()})
        graph.wait_until_done(timeout=600)
        serving_cpu = _serving_cpu_s() if server is not None else 0.0
        process_cpu = time.process_time() - cpu0
        if driver is not None:  # what the page showed: its frame number and how often its stats refreshed
            counts["frames"] = int(driver.find_element("id", "frame").get_attribute("data-seq") or 0)
            counts["stats"] = int(driver.find_element("id", "stats-tick").text)
    finally:
        stop.set()
        if watcher is not None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out, _ = watcher.communicate(timeout=30)  # closing its stdin ends it
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            counts.update(json.loads(out))
            counts["watcher_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if driver is not None:
            driver.quit()
        if server is not None:
            server.close()
        graph.close()
    measured = times[WARMUP_FRAMES:]
    fps = (len(measured) - 1) / (measured[-1][0] - measured[0][0])
    cpu_ms = 1000.0 * (measured[-1][1] - measured[0][1]) / (len(measured) - 1)
    return {"fps": fps, "cpu_ms_per_frame": cpu_ms, "serving_cpu_s": serving_cpu, "process_cpu_s": process_cpu,
            "serving_cpu_share": serving_cpu / process_cpu, "frames": len(times), "watcher_frames": counts["frames"],
            "watcher_stats": counts["stats"], "watcher_cpu_s": counts.get("watcher_cpu_s")}


def watch_until_stdin_closes(url: str) -> None:
    """``--watch URL``: the ``client`` case's watcher process; prints its counts when its stdin closes."""
    stop = threading.Event()
    counts = {"frames": 0, "stats": 0}
    thread = threading.Thread(target=_watch_like_the_page, args=(url, stop, counts), daemon=True)
    thread.start()
    sys.stdin.read()
    stop.set()
    thread.join(10)
    print(json.dumps(counts))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=202, help="frames per run (more than 202 loops the video)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--watch", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.watch:
        watch_until_stdin_closes(args.watch)
        return {}
    runs: dict[str, list[dict]] = {c: [] for c in args.cases}
    run_once("none", 2 * WARMUP_FRAMES)  # untimed: the first run of a process pays one-off costs (imports, caches)
    for i in range(args.runs):
        for case in args.cases:  # interleaved: drift on a shared machine hits every case alike
            result = run_once(case, args.frames)
            runs[case].append(result)
            print(f"run {i + 1}/{args.runs} {case:8s} {result['fps']:.2f} fps "
                  f"{result['cpu_ms_per_frame']:.1f} CPU ms/frame, serving {100 * result['serving_cpu_share']:.2f}% "
                  "of the process's CPU", file=sys.stderr)
    fps = {c: statistics.median(r["fps"] for r in rs) for c, rs in runs.items()}
    cpu = {c: statistics.median(r["cpu_ms_per_frame"] for r in rs) for c, rs in runs.items()}
    share = {c: statistics.median(r["serving_cpu_share"] for r in rs) for c, rs in runs.items() if c != "none"}
    report = {
        "benchmark": "live_view_serving_cost",
        "graph": "graphs/hand_tracking.yaml (model_complexity 1, max_num_hands 2) + Renderer, file input",
        "video": VIDEO.name, "frames_per_run": args.frames, "runs": args.runs, "warmup_frames": WARMUP_FRAMES,
        "median_fps": fps,
        "ratio_vs_none": {c: fps[c] / fps["none"] for c in fps if "none" in fps},
        "cost_pct": {c: 100.0 * (1 - fps[c] / fps["none"]) for c in fps if "none" in fps and c != "none"},
        "median_serving_cpu_share_pct": {c: 100.0 * v for c, v in share.items()},
        "median_cpu_ms_per_frame": cpu,
        "cpu_cost_pct": {c: 100.0 * (cpu[c] / cpu["none"] - 1) for c in cpu if "none" in cpu and c != "none"},
        "runs_detail": runs,
        "box": {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
        "command": "python benchmarks/live_view.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
