"""``graphflow record | replay | info``: the command-line side of recordings (see graphflow/cli.py).

    graphflow record graphs/hand_tracking.yaml --input clip.mp4 -o run.mcap [--streams image,hands] [--jpeg]
    graphflow replay run.mcap graphs/hand_tracking.yaml --speed 0 -o replay.mcap
    graphflow replay run.mcap --speed 0            # no graph: print the messages
    graphflow info run.mcap

Ctrl-C during ``record``/``replay`` stops feeding, lets the packets inside the graph drain and finishes the file
(a second Ctrl-C abandons the drain; the file still reads up to its last complete chunk). The project's payload
encodings come from ``calculators.record``, imported when a command runs (not when the parser is built).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .reader import Recording
from .replay import DONE_US, drive, drop_policy_nodes, flow_limiters, replay_graph_kwargs, replay_streams
from .writer import COMPRESSIONS, KIND_BOUNDS

PROGRESS_INTERVAL_S = 2.0
DRAIN_TIMEOUT_S = 60.0  # after Ctrl-C: the frames already inside the graph finish
MB = 1e6


def add_parsers(sub: Any, kv_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the three subcommands to ``sub`` (argparse subparsers); ``kv_option`` adds the shared -O option."""
    r = sub.add_parser("record", help="run a graph and record streams to an MCAP file")
    r.add_argument("graph", type=Path)
    r.add_argument("--input", help="video file, image folder or glob, camera index or URL (graphs with inputs)")
    r.add_argument("-o", "--output", type=Path, required=True, help="the .mcap file to write")
    r.add_argument("--streams", help="comma-separated streams (default: the graph's input and output streams)")
    r.add_argument("--input-stream", help="the graph input the frames go to (default: its only input)")
    r.add_argument("--jpeg", action="store_true", help="images as JPEG (foxglove.CompressedImage; lossy, small)")
    r.add_argument("--compression", choices=sorted(COMPRESSIONS), default="zstd")
    r.add_argument("--queue-size", type=int, default=64, help="packets the writer may lag before it drops")
    r.add_argument("--max-frames", type=int, default=0)
    r.add_argument("--width", type=int, default=0)
    r.add_argument("--height", type=int, default=0)
    r.add_argument("--loop", action="store_true", help="loop a video file (until Ctrl-C)")
    r.add_argument("--realtime", action="store_true", help="pace a file to its timestamps, like a camera")
    kv_option(r)

    p = sub.add_parser("replay", help="re-drive a graph from a recording, or print a recording's messages")
    p.add_argument("recording", type=Path)
    p.add_argument("graph", type=Path, nargs="?")
    p.add_argument("--speed", type=float, default=1.0, help="1 recorded pace, 0 as fast as possible, x scaled")
    p.add_argument("--streams", help="comma-separated recorded streams to feed (default: the graph's inputs)")
    p.add_argument("--loop", action="store_true", help="start over at the end (until Ctrl-C)")
    p.add_argument("-o", "--output", type=Path, help="record the replayed graph's output streams here")
    p.add_argument("--record-streams", help="comma-separated streams for -o (default: the graph's outputs)")
    p.add_argument("--ignore-recorded-options", action="store_true",
                   help="use the graph's own option defaults instead of the recorded run's options")
    kv_option(p)

    i = sub.add_parser("info", help="channels, counts, time range and sizes of an MCAP file")
    i.add_argument("recording", type=Path)
    i.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace, options: dict[str, Any]) -> int:
    import calculators.record  # noqa: F401 - the project's payload types, jpeg, Foxglove annotations

    if args.command == "record":
        return _record(args, options)
    if args.command == "replay":
        return _replay(args, options)
    return _info(args)


def _names(text: str | None) -> list[str] | None:
    return None if not text else [s.strip() for s in text.split(",") if s.strip()]


@contextmanager
def _sigint_sets(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C sets ``stop`` (a clean end); a second one raises KeyboardInterrupt (abandon the drain)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("graphflow: stopping: finishing the recording (Ctrl-C again to abandon)...", file=sys.stderr)

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _progress(what: str, t0: float, frames: int, recorder: Any) -> str:
    dt = max(time.monotonic() - t0, 1e-9)
    line = f"graphflow: {what} {frames} frames ({frames / dt:.1f} fps)"
    if recorder is not None:
        st = recorder.stats()
        line += f", {sum(s['bytes'] for s in st['streams'].values()) / MB:.1f} MB, drops {st['drops_total']}"
    return line


def _finish(graph: Any, recorder: Any, stop: threading.Event) -> dict[str, Any] | None:
    try:
        if stop.is_set():
            graph.stop(timeout=DRAIN_TIMEOUT_S)
        else:
            graph.wait_until_done()  # every queued frame is processed, however long the models take
            graph.close()
    finally:
        stats = recorder.close() if recorder is not None else None
    return stats


def _summary(path: Path, stats: dict[str, Any]) -> str:
    streams = stats["streams"]
    parts = ", ".join(f"{s} {c['recorded']}" + (f" (dropped {c['dropped']})" if c["dropped"] else "")
                      for s, c in streams.items())
    size = path.stat().st_size / MB if path.exists() else 0.0
    return f"graphflow: wrote {path} ({size:.1f} MB): {parts}; drops {stats['drops_total']}"


def _record(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from calculators.io.frame_reader import FrameReader

    from ..errors import GraphTimeoutError
    from ..graph import Graph
    from .recorder import Recorder

    graph = Graph.from_yaml(args.graph, **options)
    inputs = [n for n, _ in graph.spec.input_streams]
    target = args.input_stream or (inputs[0] if len(inputs) == 1 else None)
    if inputs and target is None:
        raise ValueError(f"{args.graph} has input streams {', '.join(inputs)}: name the one frames go to with "
                         "--input-stream")
    if target is not None and target not in inputs:
        raise ValueError(f"--input-stream '{target}' is not an input stream of {args.graph} ({', '.join(inputs)})")
    if inputs and not args.input:
        raise ValueError(f"{args.graph} reads frames from its input stream '{target}': pass --input "
                         "(video file, image folder or glob, camera index, URL)")
    reader = None
    if inputs:
        reader = FrameReader(args.input, width=args.width, height=args.height, loop=args.loop,
                             max_frames=args.max_frames, realtime=args.realtime)
        reader.open()
    stop = threading.Event()
    recorder = Recorder(graph, args.output, _names(args.streams), image_encoding="jpeg" if args.jpeg else "raw_image",
                        compression=args.compression, queue_size=args.queue_size,
                        metadata={"command": " ".join(sys.argv), "input": str(args.input or "")})
    t0 = last = time.monotonic()
    frames = 0
    print(f"graphflow: recording {', '.join(recorder.streams)} to {args.output} (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    with _sigint_sets(stop):
        try:
            graph.start()
            if reader is not None:
                for frame in reader:
                    if stop.is_set() or recorder.writer.failed is not None:
                        break  # Ctrl-C, or the file cannot grow (full disk): close() reports it
                    graph.add_packet(target, frame.image, frame.timestamp, timeout=None)
                    frames += 1
                    if time.monotonic() - last >= PROGRESS_INTERVAL_S:
                        print(_progress("recorded", t0, frames, recorder), file=sys.stderr, flush=True)
                        last = time.monotonic()
                for name in inputs:
                    graph.close_input(name)
            else:  # a self-contained graph (its own sources): wait, waking up for Ctrl-C
                while not stop.is_set():
                    try:
                        graph.wait_until_done(timeout=0.2)
                        break
                    except GraphTimeoutError:
                        continue
        finally:
            if reader is not None:
                reader.close()
            stats = _finish(graph, recorder, stop)
    assert stats is not None
    print(_summary(args.output, stats), file=sys.stderr)
    return 130 if stop.is_set() else 0


def describe(payload: Any) -> str:
    """One short line about a payload (for printing messages)."""
    if isinstance(payload, np.ndarray):
        return f"ndarray {payload.dtype} {tuple(payload.shape)}"
    if isinstance(payload, list):
        kinds = sorted({type(x).__name__ for x in payload})
        return f"list[{len(payload)}] {'/'.join(kinds)}".rstrip()
    text = repr(payload)
    return text if len(text) <= 80 else text[:77] + "..."


def _recorded_options(rec: Recording, graph_path: Path) -> dict[str, Any]:
    """The recorded run's options that ``graph_path`` declares (so a replay runs what ran)."""
    try:
        recorded = json.loads(rec.run_metadata.get("options", "{}"))
    except ValueError:
        return {}
    declared = (yaml.safe_load(graph_path.read_text()) or {}).get("options") or {}
    return {k: v for k, v in recorded.items() if k in declared}


def _replay(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from ..graph import Graph
    from .recorder import Recorder
    from .replay import Pacer, looped

    rec = Recording(args.recording)
    stop = threading.Event()
    if args.graph is None:
        if args.output:
            raise ValueError("replay -o records a replayed graph's outputs: name the GRAPH to replay into")
        pacer = Pacer(args.speed, stop)
        with _sigint_sets(stop):
            for p in looped(rec, _names(args.streams) or rec.streams(), loop=args.loop):
                if p.kind == KIND_BOUNDS:
                    at = "DONE" if p.timestamp_us == DONE_US else f"{p.timestamp_us}us"
                    print(f"{'':>18}  {p.stream:24s} bound -> {at}")
                    continue
                if not pacer.wait(p.timestamp_us):
                    break
                print(f"{p.timestamp_us:>16}us  {p.stream:24s} #{p.sequence:<6d} {describe(p.payload)}")
        _warn_truncated(rec)
        return 130 if stop.is_set() else 0
    opts = {} if args.ignore_recorded_options else _recorded_options(rec, args.graph)
    opts.update(options)
    kwargs = replay_graph_kwargs(args.speed)
    graph = Graph.from_yaml(args.graph, **opts, **kwargs)
    if opts:
        print("graphflow: options: " + ", ".join(f"{k}={v}" for k, v in opts.items()), file=sys.stderr)
    dropping = drop_policy_nodes(graph)
    if args.speed == 0 and dropping:
        how = "block instead (lossless)" if kwargs else "still drop (this engine has no lossless mode)"
        print(f"graphflow: as fast as possible: the drop policies of {', '.join(dropping)} {how}", file=sys.stderr)
    limiters = flow_limiters(graph)
    if limiters:
        print(f"graphflow: warning: FlowLimiter node(s) {', '.join(limiters)} drop frames by timing, so this replay "
              "may drop other frames than the recorded run did (replay the app graph without the limiter)",
              file=sys.stderr)
    names = replay_streams(graph, rec, _names(args.streams))
    recorder = None
    if args.output:
        outputs = _names(args.record_streams) or [n for n, _ in graph.spec.output_streams]
        recorder = Recorder(graph, args.output, outputs,
                            metadata={"replay_of": str(args.recording), "speed": str(args.speed)})
    print(f"graphflow: replaying {', '.join(names)} from {args.recording} at speed {args.speed:g}", file=sys.stderr,
          flush=True)
    t0 = time.perf_counter()
    with _sigint_sets(stop):
        try:
            graph.start()
            counts = drive(graph, rec, streams=names, speed=args.speed, loop=args.loop, stop=stop)
        finally:
            stats = _finish(graph, recorder, stop)
    fed, wall = sum(counts.packets.values()), time.perf_counter() - t0
    print(f"graphflow: replayed {fed} packets in {wall:.2f} s ({fed / max(wall, 1e-9):.1f}/s, graph start "
          "and drain included)", file=sys.stderr)
    if stats is not None and args.output:
        print(_summary(args.output, stats), file=sys.stderr)
    _warn_truncated(rec)
    return 130 if stop.is_set() else 0


def _warn_truncated(rec: Recording) -> None:
    if rec.truncated:
        print(f"graphflow: {rec.path} ends mid-write (cut at byte {rec.truncated_at}): replayed what precedes "
              "the cut", file=sys.stderr)


def _fmt_ns(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e9:.6f} s"


def _info(args: argparse.Namespace) -> int:
    rec = Recording(args.recording)
    info = rec.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: {info['file_bytes'] / MB:.2f} MB, profile {info['profile']!r}, {info['library']}")
    print(f"  time {_fmt_ns(info['start_ns'])} .. {_fmt_ns(info['end_ns'])} ({info['duration_s']:.3f} s), "
          f"{info['messages']} messages"
          + (f", {info['bytes_per_minute'] / MB:.1f} MB/min" if info["bytes_per_minute"] else ""))
    if info["truncated"]:
        print(f"  TRUNCATED at byte {info['truncated_at']} (the recorder did not finish; the messages before "
              "the cut are listed)")
    meta = info["metadata"]
    if meta:
        print(f"  graph {meta.get('graph', '?')}, graphflow {meta.get('version', '?')}, "
              f"options {meta.get('options', '{}')}")
    summary = info["summary"]
    if summary:
        print(f"  drops {summary.get('drops', '{}')} (total {summary.get('drops_total', '?')})")
    print(f"  {'topic':36s} {'schema':28s} {'messages':>8s} {'msg MB':>9s}  gaps")
    for topic, c in info["channels"].items():
        print(f"  {topic:36s} {c['schema']:28s} {c['messages']:8d} {c['bytes'] / MB:9.3f}  {c['sequence_gaps']}")
    return 0
