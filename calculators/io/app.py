"""``run_app``: run an app graph on a camera, file, URL or image folder, with a renderer, sinks, progress and Ctrl-C.

Two kinds of graph are accepted:

- an *app graph* with graph input stream ``image`` (``graphs/hand_tracking.yaml``, ``graphs/cam.yaml``, ...):
  ``run_app`` wraps it in a graph of its own (``build_app_graph``): ``VideoSource`` -> (``FlowLimiter`` for live
  sources) -> the app graph as a ``subgraph:`` node -> ``Renderer`` -> the sinks asked for (``WindowSink``,
  ``VideoWriterSink``, ``ImageFolderSink``, ``JsonlSink``). The renderer and the JSONL sink get whichever of the
  app's output streams they understand (``RESULT_STREAMS``, or by payload type);
- a *self-contained graph* with its own source (``graphs/hand_tracking_live.yaml``): it is run as is (``input``
  sets its ``input`` option when it declares one); when it declares the input side packets ``stop`` (a
  ``threading.Event`` for its ``VideoSource``) or ``display`` (a ``DisplayQueue`` for its ``WindowSink``),
  ``run_app`` provides and services them.

The main thread stays free for the display: it pumps the ``DisplayQueue`` (``--show``) or updates the progress bar
(files: frames, fps, ETA) or a live stats line (cameras). Ctrl-C, or 'q'/Esc in the window, sets the ``stop`` event:
the source ends, the frames already decoded drain (at most the input queues' sizes), every sink's ``close`` runs
(the video file is finalised), and ``run_app`` returns 130 (Ctrl-C) or 0 ('q'). A second Ctrl-C abandons the drain.

Exit codes: 0 done; 1 the graph failed (the error is printed in one line); 2 bad usage (no input and no camera,
``--show`` on headless OpenCV, an input that cannot be opened, an invalid graph); 130 interrupted.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from graphflow import ConfigError, GraphError
from graphflow.errors import GraphflowError
from graphflow.graph import Graph
from graphflow.progress import Progress
from graphflow.types import ClassActivation, Instances

from .display import DisplayBackend, DisplayQueue, HeadlessDisplayError, OpenCVDisplay
from .frame_reader import FrameReader, SourceOpenError, camera_available, classify_input
from .run_watch import RunWatch

#: app output stream name -> Renderer/JsonlSink input tag
RESULT_STREAMS: dict[str, str] = {
    "hands": "HANDS",
    "palm_detections": "PALMS",
    "hand_rois": "ROIS",
    "instances": "INSTANCES",
    "cam": "CAM",
    "classes": "CLASSES",
}
RESULT_TYPES: dict[type, str] = {Instances: "INSTANCES", ClassActivation: "CAM"}
APP_INPUT = "image"
NO_INPUT_MESSAGE = (
    "no --input given and no camera found: pass a video file, an image folder or glob, or a URL, "
    "e.g. `--input path/to/video.mp4` (or `--input 0` for the first webcam)"
)

def _no_camera(index: int) -> str:
    return f"no camera at index {index}; pass a video file, an image folder or a URL instead, e.g. " \
        "`--input path/to/video.mp4`"


# stream and side packet names of the wrapper graph (prefixed so they never collide with an app's streams)
_FRAMES, _CAPTURE, _IMAGE, _RENDERED = "gf_frames", "gf_capture_time", "gf_image", "gf_rendered"
_STOP, _DISPLAY = "stop", "display"


def result_streams(app: Graph | Any) -> dict[str, str]:
    """The app graph's output streams the renderer/JSONL sink understand: stream name -> input tag."""
    spec = app.spec
    types = app.validated.stream_types
    found: dict[str, str] = {}
    for name, _loc in spec.output_streams:
        tag = RESULT_STREAMS.get(name)
        if tag is None:
            produced = types.get(name)
            tag = next((t for tp, t in RESULT_TYPES.items() if isinstance(produced, type)
                        and issubclass(produced, tp)), None)
        if tag is not None and tag not in found.values():
            found[name] = tag
    return found


def image_outputs(app: Graph | Any) -> list[str]:
    """App output streams carrying images (e.g. an app's own rendering, ``output_image``)."""
    types = app.validated.stream_types
    return [n for n, _ in app.spec.output_streams if types.get(n) is np.ndarray]


def build_app_graph(
    graph_path: str | Path,
    app: Graph,
    source_options: dict[str, Any],
    *,
    live: bool,
    flow_limit: bool | None = None,
    show: bool = False,
    output: str | None = None,
    jsonl: str | None = None,
    images_dir: str | None = None,
    app_options: dict[str, Any] | None = None,
    render_options: dict[str, Any] | None = None,
    window: str = "graphflow",
    serve: bool = False,
) -> dict[str, Any]:
    """The wrapper graph (a dict for ``Graph.from_yaml``) around ``app`` (the loaded app graph at ``graph_path``).

    Returns a graph with input side packets ``stop`` (+ ``display`` when ``show``, + the app's own) and output
    streams: the rendered frames (``gf_rendered``, when anything renders) and the app's outputs.
    """
    results = result_streams(app)
    own_images = image_outputs(app)
    app_outputs = [n for n, _ in app.spec.output_streams]
    limit = live if flow_limit is None else flow_limit
    nodes: list[dict[str, Any]] = []
    # The source decodes frames (RGB) and stamps them; ``stop`` lets Ctrl-C / 'q' end it cleanly.
    nodes.append({
        "name": "source", "calculator": "VideoSource",
        "outputs": {"IMAGE": _FRAMES, "CAPTURE_TIME": _CAPTURE},
        "side_inputs": {"STOP": _STOP}, "options": source_options,
    })
    needs_render = bool(show or output or images_dir or serve)
    rendered = None
    if needs_render:
        rendered = _RENDERED if (results or not own_images) else own_images[0]
    finished = rendered or (next(iter(results), None) or (app_outputs[0] if app_outputs else None))
    if limit and finished is not None:
        # Live input: admit a frame only when the previous one is through, so the output shows the present.
        nodes.append({
            "name": "flow_limiter", "calculator": "FlowLimiter",
            "inputs": {"IN": _FRAMES, "FINISHED": {"stream": finished, "back_edge": True}},
            "outputs": {"OUT": _IMAGE},
        })
        app_input = _IMAGE
    else:
        app_input = _FRAMES
    # The app graph itself, included unchanged.
    app_node: dict[str, Any] = {
        "name": "app", "subgraph": str(Path(graph_path).resolve()),
        "inputs": {APP_INPUT: app_input}, "outputs": {n: n for n in app_outputs},
    }
    if app_options:
        app_node["options"] = dict(app_options)
    nodes.append(app_node)
    if rendered == _RENDERED:
        # One renderer for every app: draws the structured results it recognises, plus fps/latency.
        nodes.append({
            "name": "renderer", "calculator": "Renderer",
            "inputs": {"IMAGE": app_input, "CAPTURE_TIME": _CAPTURE, **{tag: s for s, tag in results.items()}},
            "outputs": {"IMAGE_OUT": _RENDERED}, "options": dict(render_options or {}),
        })
    if show and rendered:
        # Frames go to the main thread's window through the display queue (GUI toolkits want the main thread).
        nodes.append({"name": "window", "calculator": "WindowSink", "inputs": {"IMAGE": rendered},
                      "side_inputs": {"DISPLAY": _DISPLAY}, "options": {"window": window}})
    if output and rendered:
        # The annotated video, finalised on close (also after Ctrl-C).
        fps = float(source_options.get("fps") or 0.0)
        nodes.append({"name": "video_writer", "calculator": "VideoWriterSink", "inputs": {"IMAGE": rendered},
                      "options": {"path": str(output), "fps": fps}})
    if images_dir and rendered:
        # One annotated image per frame.
        nodes.append({"name": "image_folder", "calculator": "ImageFolderSink", "inputs": {"IMAGE": rendered},
                      "options": {"folder": str(images_dir)}})
    if jsonl:
        if not results:
            raise ConfigError(
                f"--jsonl: graph {graph_path} has no output stream the JSONL sink understands",
                hint=f"name an output stream one of {', '.join(RESULT_STREAMS)}",
            )
        # The structured results, one line per frame (schema in calculators/io/jsonl.py).
        nodes.append({"name": "jsonl", "calculator": "JsonlSink",
                      "inputs": {tag: s for s, tag in results.items()}, "options": {"path": str(jsonl)}})
    side = [_STOP] + ([_DISPLAY] if show else []) + [n for n, _ in app.spec.input_side_packets
                                                        if n not in (_STOP, _DISPLAY)]
    outputs = ([_RENDERED] if rendered == _RENDERED else []) + app_outputs
    return {"input_side_packets": side, "output_streams": outputs, "nodes": nodes}


def _dropped(graph: Graph) -> int:
    try:
        return int(graph.stats().get("drops_total", 0))
    except Exception:  # noqa: BLE001 - stats are cosmetic here; never let them break the run
        return 0


def run_app(
    graph_path: str | Path,
    input: str | None = None,  # noqa: A002 - the CLI's --input
    output: str | None = None,
    show: bool = False,
    jsonl: str | None = None,
    side: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    *,
    images_dir: str | None = None,
    width: int = 0,
    height: int = 0,
    fps: float = 0.0,
    loop: bool = False,
    start: float = 0.0,
    end: float = 0.0,
    max_frames: int = 0,
    realtime: bool = False,
    retries: int = 3,
    flow_limit: bool | None = None,
    render_options: dict[str, Any] | None = None,
    display: DisplayBackend | None = None,
    observers: dict[str, Callable[[Any], None]] | None = None,
    progress: bool = True,
    stream: IO[str] | None = None,
    executor: str = "threads",
    timeout: float | None = None,
    trace: str | Path | None = None,
    stats: bool = False,
    stats_json: str | Path | None = None,
    serve: str | int | None = None,
    serve_stream: str | None = None,
) -> int:
    """Run ``graph_path`` on ``input`` with the sinks asked for; returns the process exit code (see module doc).

    graph_path: an app graph (input stream ``image``) or a self-contained graph. input: "0" (webcam index), a
    video file, URL, image folder or glob; None = camera 0 if one answers. output: annotated video path.
    show: on-screen window (``display`` swaps the backend; default OpenCV highgui). jsonl: structured results.
    side: input side packets of the app graph. options: the app graph's options (``max_num_hands: 1``).
    images_dir: annotated frames as images. width/height/fps/loop/start/end/max_frames/realtime/retries:
    ``VideoSource`` options. flow_limit: None = only for live sources. render_options: ``Renderer`` options.
    observers: stream name -> callback(packet) on the (wrapper) graph's streams, e.g. ``{"hands": ...}``.
    progress: show the progress bar (terminal) or a line every few seconds (log) on ``stream`` (default stderr).
    executor/trace: as for ``Graph``. timeout: stop the source after this many seconds, drain, return 1.
    stats/stats_json: print the per-node table on stdout / write the stats JSON at the end.
    serve: "[HOST:]PORT" of a live web view (127.0.0.1 unless a host is given; ``graphflow.serve``);
    serve_stream: the image stream it shows (default: the rendered frames).
    """
    out = stream or sys.stderr

    def fail(message: str, code: int) -> int:
        out.write(f"graphflow: {message}\n")
        out.flush()
        return code

    try:
        app = Graph.from_yaml(graph_path, executor=executor, trace=trace, **(options or {}))
    except (ConfigError, OSError) as exc:
        return fail(str(exc), 2)
    app_inputs = [n for n, _ in app.spec.input_streams]
    app_side = [n for n, _ in app.spec.input_side_packets]
    side_packets = dict(side or {})
    stop = threading.Event()
    queue = DisplayQueue() if (show or _DISPLAY in app_side) else None
    if show or _DISPLAY in app_side:
        try:
            backend = display if display is not None else OpenCVDisplay()
        except HeadlessDisplayError as exc:
            return fail(str(exc), 2)
    else:
        backend = None

    reader_total = 0
    live = False
    label = Path(graph_path).stem
    if APP_INPUT in app_inputs:
        if len(app_inputs) > 1:
            others = ", ".join(n for n in app_inputs if n != APP_INPUT)
            return fail(f"{graph_path} has input streams besides '{APP_INPUT}' ({others}); run_app feeds only "
                        f"'{APP_INPUT}'", 2)
        if input is None:
            if not camera_available(0):
                return fail(NO_INPUT_MESSAGE, 2)
            input = "0"  # noqa: A001
        try:
            spec = classify_input(input)
        except SourceOpenError as exc:
            return fail(str(exc), 2)
        if spec.kind == "camera" and not camera_available(spec.target):
            return fail(_no_camera(spec.target), 2)
        live = spec.live
        src_opts = {"input": str(input), "width": width, "height": height, "fps": fps, "loop": loop,
                    "start": start, "end": end, "max_frames": max_frames, "realtime": realtime,
                    "retries": retries}
        if not live:
            try:
                reader_total = FrameReader(spec, width=width, height=height, fps=fps, loop=loop, start=start,
                                           end=end, max_frames=max_frames).frame_count()
            except SourceOpenError as exc:
                return fail(str(exc), 2)
        label = f"{label} on {'camera ' + str(spec.target) if spec.kind == 'camera' else Path(str(input)).name}"
        try:
            wrapper = build_app_graph(
                graph_path, app, src_opts, live=live, flow_limit=flow_limit, show=show, output=output,
                jsonl=jsonl, images_dir=images_dir, app_options=options, render_options=render_options,
                serve=serve is not None,
            )
            graph = Graph.from_yaml(wrapper, executor=executor, trace=trace)
        except ConfigError as exc:
            return fail(str(exc), 2)
        side_packets[_STOP] = stop
        if show:
            side_packets[_DISPLAY] = queue
        counted = _RENDERED if _RENDERED in wrapper["output_streams"] else (wrapper["output_streams"] or [None])[0]
    else:
        if input is not None and "input" in app.spec.options:
            # a self-contained graph that names its source with an `input` option (graphs/hand_tracking_live.yaml)
            try:
                app = Graph.from_yaml(graph_path, executor=executor, trace=trace,
                                      **{**(options or {}), "input": str(input)})
            except (ConfigError, OSError) as exc:
                return fail(str(exc), 2)
            input = None  # noqa: A001
        own_input = str(app.spec.options.get("input", ""))
        if own_input.isdigit() and not camera_available(int(own_input)):
            return fail(NO_INPUT_MESSAGE if own_input == "0" else _no_camera(int(own_input)), 2)
        if input is not None or output or jsonl or images_dir:
            return fail(f"{graph_path} has no input stream '{APP_INPUT}': it brings its own source and sinks; "
                        "set them with the graph's options instead of --input/--output/--jsonl", 2)
        graph = app
        if _STOP in app_side:
            side_packets[_STOP] = stop
        if _DISPLAY in app_side:
            side_packets[_DISPLAY] = queue
        counted = next(iter(n for n, _ in app.spec.output_streams), None)

    bar = Progress(reader_total, live, label, out, progress)
    watch = RunWatch(graph, bar, out, serve=serve, serve_stream=serve_stream, title=label, timeout=timeout,
                     stats=stats, stats_json=stats_json, trace=trace, frames_stream=counted)
    capture_times: dict[int, float] = {}
    if counted is not None and APP_INPUT in app_inputs:
        graph.observe(_CAPTURE, lambda p: capture_times.__setitem__(int(p.timestamp), p.payload))

        def on_frame(packet: Any) -> None:
            t = capture_times.pop(int(packet.timestamp), None)
            for k in [k for k in capture_times if k < int(packet.timestamp)]:
                capture_times.pop(k, None)  # frames the flow limiter dropped
            bar.frame(None if t is None else (time.monotonic() - t) * 1000.0)

        graph.observe(counted, on_frame)
    elif counted is not None:
        graph.observe(counted, lambda p: bar.frame(None))
    for name, callback in (observers or {}).items():
        graph.observe(name, callback)
    try:
        watch.open(default_stream=_RENDERED if _RENDERED in graph.validated.stream_types else None)
    except (GraphflowError, RuntimeError) as exc:
        return fail(str(exc), 2)

    errors: list[BaseException] = []
    done = threading.Event()

    def wait_for_graph() -> None:
        try:
            graph.wait_until_done(timeout=None)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
        finally:
            if queue is not None:
                queue.finish()
            done.set()

    try:
        graph.start(side_packets)  # opens every node: models load here
    except GraphflowError as exc:
        watch.finish(ran=False)
        return fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)
    except KeyboardInterrupt:
        stop.set()
        try:
            graph.close(timeout=5.0)
        except GraphflowError:
            pass
        watch.finish(ran=False)
        return fail("interrupted while starting", 130)
    watch.arm(side_packets.get(_STOP))
    waiter = threading.Thread(target=wait_for_graph, name="graphflow-app-wait")
    waiter.start()
    interrupted = quit_pressed = False
    try:
        if queue is not None and backend is not None:
            quit_pressed = queue.pump(backend, until=done)
            if quit_pressed:
                stop.set()
        while not done.wait(0.1):
            bar.update(_dropped(graph))
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        out.write("\ngraphflow: stopping (Ctrl-C again to abandon the drain)...\n")
        try:
            while not done.wait(0.1):
                pass
        except KeyboardInterrupt:
            out.write("graphflow: abandoning the drain\n")
            try:
                graph.close(timeout=2.0)
            except GraphflowError:
                pass
    finally:
        waiter.join(timeout=15.0)
        bar.close(_dropped(graph))
        watch.finish()
    if errors:
        exc = errors[0]
        if isinstance(exc, GraphError):
            cause = exc.__cause__
            detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            where = f"node '{exc.node}'" if exc.node else "the graph"
            return fail(f"{where} failed: {detail}", 1)
        return fail(f"{type(exc).__name__}: {exc}", 1)
    if interrupted:
        return 130
    if watch.timed_out:
        return fail(f"--timeout {timeout:g} s: gave up; the source was stopped and the frames in flight drained "
                    f"({bar.count} frames done)", 1)
    return 0
