"""What the live view (``--serve``) costs the graph: hand tracking frames/s with and without a watcher.

The graph is ``run_app``'s wrapper around ``graphs/hand_tracking.yaml`` on the shared video (VideoSource -> hand
tracking -> Renderer), as fast as it goes (file input, no flow limiter), in these configurations, interleaved
``--runs`` times in one process so the ratios compare like with like:

- ``none``: no server (the renderer still runs, so only serving is measured);
- ``client``: the server at its default frame cap (``--serve-fps``, ``DEFAULT_SERVE_FPS``) plus one watcher doing
  what the page does (ask for a frame newer than the last one as soon as it has it, stats twice a second, over
  kept-alive connections as a browser's ``fetch`` does) in a separate, standard-library-only process
  (``live_view_watcher.py``, started and connected before the graph starts): what a browser on *another* machine
  costs this one, plus the watcher's own share of the same cores (its CPU time is reported);
- ``client_all``: the same with ``--serve-fps 0`` (every frame the graph makes is encoded and sent);
- ``chromium``: the server at its default cap plus a real headless Chromium showing the page on this machine
  (its decoding and drawing compete for the same cores: the worst case of a laptop watching itself).

The cost of a case is ``1 - fps(case) / fps(none)`` within each round (the ``none`` run of the same round, minutes
apart at most), reported as the median over rounds with its spread (min, max, quartiles): a shared machine's
drift hits both runs of a round alike.

The serving threads' own CPU time (the server's event loop and its executor threads, read per thread with
``pthread_getcpuclockid``) is reported as a share of the whole process's CPU over the run (``serving_cpu_share``):
on a machine the graph keeps busy, that share is what serving takes from the graph, measured without the noise of
wall-clock fps.

fps is counted over the rendered frames after the first ``WARMUP_FRAMES`` (model load and warm-up excluded), and so
is the process's CPU time per frame (all its threads: graph and server). The machine is shared: wall-clock fps
swings with other people's work, CPU per frame much less; both are reported, as medians over interleaved runs.

    flock /tmp/bench.lock python benchmarks/live_view.py [--runs 3] [--frames 202] [--cases ...] [--json out.json]

``--toggle BLOCKS`` measures within one long run instead, which a loaded machine disturbs far less: the graph
loops the video with the server up the whole time, and the viewer (``--viewer watcher`` or ``chromium``) is
switched on and off at every pass over the video, in the order on, off, off, on, on, off, ... (ABBA: a linear drift
cancels). Every block is the same 202 frames, so blocks differ only by the viewer and by other people's load.
Each on-block's fps is compared with the off-blocks next to it; the median and spread of those costs are reported,
with the serving threads' CPU in on- and off-blocks (an idle server, nobody watching, should cost nothing):

    flock /tmp/bench.lock python benchmarks/live_view.py --toggle 12 [--viewer chromium] [--serve-fps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.io.app import _RENDERED, _STOP, build_app_graph  # noqa: E402
from calculators.io.live_view import start_live_view  # noqa: E402
from graphflow.graph import Graph  # noqa: E402
from graphflow.serve import DEFAULT_SERVE_FPS  # noqa: E402

VIDEO = ROOT.parent / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
HAND_GRAPH = ROOT / "graphs" / "hand_tracking.yaml"
WARMUP_FRAMES = 10
WATCHER = ROOT / "benchmarks" / "live_view_watcher.py"
CASES = ("none", "client", "client_all", "chromium")
#: the server's frame cap per case (None: no server)
CASE_FPS = {"none": None, "client": DEFAULT_SERVE_FPS, "client_all": 0.0, "chromium": DEFAULT_SERVE_FPS}


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


def _serving_cpu_s() -> float:
    """CPU seconds of the live view's threads so far: its event loop and the loop's executor threads."""
    total = 0.0
    for t in threading.enumerate():
        if (t.name == "graphflow-live-view" or t.name.startswith("asyncio_")) and t.ident is not None:
            try:
                total += time.clock_gettime(time.pthread_getcpuclockid(t.ident))  # ns resolution, not jiffies
            except OSError:  # the thread ended meanwhile
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
    if CASE_FPS[case] is not None:
        server = start_live_view(graph, "127.0.0.1:0", stream=_RENDERED, title="benchmark", out=open(os.devnull, "w"),
                                 fps=CASE_FPS[case])
    if case.startswith("client"):
        watcher = subprocess.Popen([sys.executable, str(WATCHER), server.url], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == "ready"
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
            "watcher_stats": counts["stats"], "watcher_cpu_s": counts.get("watcher_cpu_s"),
            "encodes": server.frames.encodes if server is not None else 0, "load_avg_1m": os.getloadavg()[0]}


#: frames in the shared video: one toggle block is one pass over it
VIDEO_FRAMES = 202


def _abba(k: int) -> bool:
    """Whether the viewer is on in toggle block k (k >= 1; block 0 is the warm-up): on off off on on off off on..."""
    return (k - 1) % 4 in (0, 3)


def run_toggle(blocks: int, viewer: str, fps: float) -> dict:
    app = Graph.from_yaml(HAND_GRAPH)
    source = {"input": str(VIDEO), "max_frames": (blocks + 1) * VIDEO_FRAMES, "loop": True}
    graph = Graph.from_yaml(build_app_graph(HAND_GRAPH, app, source, live=False, serve=True))
    server = start_live_view(graph, "127.0.0.1:0", stream=_RENDERED, title="benchmark", out=open(os.devnull, "w"),
                             fps=fps)
    boundaries: queue.Queue[tuple[int, float, float]] = queue.Queue()
    count = [0]

    def on_frame(packet) -> None:  # graph thread: count, and hand block boundaries to the controller
        count[0] += 1
        if count[0] % VIDEO_FRAMES == 0:
            boundaries.put((count[0] // VIDEO_FRAMES, time.perf_counter(), time.process_time()))

    graph.observe(_RENDERED, on_frame)
    watcher = driver = None
    if viewer == "watcher":
        watcher = subprocess.Popen([sys.executable, str(WATCHER), server.url, "--toggle"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        assert watcher.stdin is not None and watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "ready"
    else:
        driver = _chromium("about:blank")

    def switch(on: bool) -> None:
        if watcher is not None:
            watcher.stdin.write("on\n" if on else "off\n")
            watcher.stdin.flush()
        else:
            driver.get(server.url if on else "about:blank")

    rows: list[dict] = []
    t_start = time.perf_counter()
    graph.start({_STOP: threading.Event()})
    try:
        last = (0, t_start, time.process_time(), _serving_cpu_s())
        while last[0] < blocks + 1:
            block, t, cpu = boundaries.get(timeout=600)
            serving = _serving_cpu_s()
            if block < blocks + 1:
                switch(_abba(block))  # pass block+1 is schedule block `block`: its state, at once
            if block >= 2:  # block 1 is warm-up (model load, caches); rows are blocks 1.. of the schedule
                rows.append({"block": block - 1, "viewer_on": _abba(block - 1), "fps": VIDEO_FRAMES / (t - last[1]),
                             "cpu_ms_per_frame": 1000.0 * (cpu - last[2]) / VIDEO_FRAMES,
                             "serving_cpu_ms_per_s": 1000.0 * (serving - last[3]) / (t - last[1])})
            last = (block, t, cpu, serving)
        graph.wait_until_done(timeout=600)
    finally:
        if watcher is not None:
            watcher.communicate(timeout=30)
        if driver is not None:
            driver.quit()
        server.close()
        graph.close()
    on = [r for r in rows if r["viewer_on"]]
    off = [r for r in rows if not r["viewer_on"]]
    costs = []
    for r in on:  # against the off-blocks next to it (one or two)
        near = [o["fps"] for o in off if abs(o["block"] - r["block"]) == 1]
        if near:
            costs.append(100.0 * (1 - r["fps"] / statistics.mean(near)))
    return {
        "blocks": rows, "cost_pct": _spread(costs),
        "cost_of_medians_pct": 100.0 * (1 - statistics.median(r["fps"] for r in on)
                                        / statistics.median(r["fps"] for r in off)),
        "median_fps": {"on": statistics.median(r["fps"] for r in on), "off": statistics.median(r["fps"] for r in off)},
        "median_serving_cpu_ms_per_s": {"on": statistics.median(r["serving_cpu_ms_per_s"] for r in on),
                                        "off": statistics.median(r["serving_cpu_ms_per_s"] for r in off)},
        "median_cpu_ms_per_frame": {"on": statistics.median(r["cpu_ms_per_frame"] for r in on),
                                    "off": statistics.median(r["cpu_ms_per_frame"] for r in off)},
        "encodes": server.frames.encodes,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=202, help="frames per run (more than 202 loops the video)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--toggle", type=int, metavar="BLOCKS", help="measure by switching the viewer on and off "
                        "within one run, BLOCKS passes over the video (a multiple of 4 keeps the ABBA order whole)")
    parser.add_argument("--viewer", choices=("watcher", "chromium"), default="watcher")
    parser.add_argument("--serve-fps", type=float, default=DEFAULT_SERVE_FPS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    if args.toggle:
        run_once("none", 2 * WARMUP_FRAMES)  # untimed: one-off costs of a process's first run
        result = run_toggle(args.toggle, args.viewer, args.serve_fps)
        for r in result["blocks"]:
            print(f"block {r['block']:2d} viewer {'on ' if r['viewer_on'] else 'off'} {r['fps']:.2f} fps "
                  f"{r['cpu_ms_per_frame']:.1f} CPU ms/frame, serving {r['serving_cpu_ms_per_s']:.1f} CPU ms/s",
                  file=sys.stderr)
        report = {"benchmark": "live_view_serving_cost_toggle",
                  "graph": "graphs/hand_tracking.yaml (model_complexity 1, max_num_hands 2) + Renderer, file input",
                  "video": VIDEO.name, "viewer": args.viewer, "serve_fps": args.serve_fps, **result,
                  "box": {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                          "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
                  "commit": _commit(),
                  "command": "python benchmarks/live_view.py " + " ".join(argv if argv is not None else sys.argv[1:])}
        text = json.dumps(report, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
        return report
    runs: dict[str, list[dict]] = {c: [] for c in args.cases}
    run_once("none", 2 * WARMUP_FRAMES)  # untimed: the first run of a process pays one-off costs (imports, caches)
    for i in range(args.runs):
        for case in args.cases:  # interleaved: drift on a shared machine hits every case alike
            result = run_once(case, args.frames)
            runs[case].append(result)
            print(f"run {i + 1}/{args.runs} {case:10s} {result['fps']:.2f} fps "
                  f"{result['cpu_ms_per_frame']:.1f} CPU ms/frame, serving {100 * result['serving_cpu_share']:.2f}% "
                  f"of the process's CPU, {result['encodes']} frames encoded, load {result['load_avg_1m']:.2f}",
                  file=sys.stderr)
    fps = {c: statistics.median(r["fps"] for r in rs) for c, rs in runs.items()}
    # per round: the case against the none run of the same round
    round_cost = {c: [100.0 * (1 - r["fps"] / n["fps"]) for r, n in zip(rs, runs["none"], strict=True)]
                  for c, rs in runs.items() if c != "none" and "none" in runs}
    cpu = {c: statistics.median(r["cpu_ms_per_frame"] for r in rs) for c, rs in runs.items()}
    share = {c: statistics.median(r["serving_cpu_share"] for r in rs) for c, rs in runs.items() if c != "none"}
    report = {
        "benchmark": "live_view_serving_cost",
        "graph": "graphs/hand_tracking.yaml (model_complexity 1, max_num_hands 2) + Renderer, file input",
        "video": VIDEO.name, "frames_per_run": args.frames, "runs": args.runs, "warmup_frames": WARMUP_FRAMES,
        "median_fps": fps,
        "ratio_vs_none": {c: fps[c] / fps["none"] for c in fps if "none" in fps},
        "cost_pct": {c: 100.0 * (1 - fps[c] / fps["none"]) for c in fps if "none" in fps and c != "none"},
        "round_cost_pct": {c: _spread(v) for c, v in round_cost.items()},
        "serve_fps": {c: CASE_FPS[c] for c in args.cases},
        "median_serving_cpu_share_pct": {c: 100.0 * v for c, v in share.items()},
        "median_cpu_ms_per_frame": cpu,
        "cpu_cost_pct": {c: 100.0 * (cpu[c] / cpu["none"] - 1) for c in cpu if "none" in cpu and c != "none"},
        "runs_detail": runs,
        "box": {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
        "commit": _commit(),
        "command": "python benchmarks/live_view.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return report


def _spread(values: list[float]) -> dict[str, float | list[float]]:
    """median, quartiles, min, max (and the values) of per-round figures."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2], "min": min(values), "max": max(values),
            "values": values}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


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
