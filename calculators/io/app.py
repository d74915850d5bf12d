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
(the video file is finalised), and ``run_app`` returns 130 (Ctrl-C) or 0 ('q'). A second Ctrl-C abandons the drain:
the graph is cancelled (every opened node's ``close`` still runs, so the outputs are finalised; further Ctrl-Cs
are ignored while that happens) and ``run_app`` returns 130. An exception from the display backend cancels the
graph the same way and returns 1. No thread ``run_app`` starts can keep the process alive.

Outputs: an output that is the same file as the input (or as another output) is refused before anything runs;
the sinks write under a temporary name and rename it into place only once they wrote something, so an existing
file is replaced only by a run that produced output (see ``output_file.py``). Every run ends with one line saying
how many frames went through and what was skipped or dropped (undecodable, missing, over the fps cap, dropped by
full queues) and what was written.

Graph files are untrusted: ``allow_imports`` (the caller's permission, e.g. ``--allow-import MODULE``) is the
only way a ``module:Class`` calculator gets imported (see ``graphflow/registry.py``).

Exit codes: 0 done; 1 the graph failed (the error is printed in one line); 2 bad usage (no input and no camera,
``--show`` on headless OpenCV, an input that cannot be opened or yields no frame, an output naming the input, an
invalid graph or option); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from calculators.types import ClassActivation, Instances
from graphflow import ConfigError, GraphError
from graphflow.cli_flags import SERVE_FPS_DEFAULT
from graphflow.errors import GraphflowError, GraphTimeoutError
from graphflow.graph import Graph
from graphflow.progress import Progress

from .display import DisplayBackend, DisplayQueue, HeadlessDisplayError, OpenCVDisplay
from .frame_reader import FrameReader, SourceOpenError, SourceSpec, camera_available, classify_input
from .run_watch import RunWatch
from .video_source import VideoSourceCalculator

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
#: seconds ``cancel`` may take to close every node after the drain was abandoned (second Ctrl-C, display error)
ABANDON_TIMEOUT_S = 5.0
#: seconds to wait for the waiter thread once the graph was cancelled (it is a daemon: it cannot hold the process)
WAITER_JOIN_AFTER_CANCEL_S = 1.0
WAITER_JOIN_S = 15.0
#: the waiter thread's wait_until_done is called in slices of this many seconds (see wait_for_graph)
WAIT_SLICE_S = 0.25
#: node counters that mean "a frame did not make it", as the end-of-run line words them
SKIPPED_WORDS: dict[str, str] = {
    "decode_failures": "undecodable",
    "missing_frames": "missing (the file ends before its frame count: truncated?)",
    "dropped_by_fps": "over the fps cap",
    "queue_drops": "dropped by full queues",
}
#: sink counters -> what they wrote
WRITTEN_WORDS: dict[str, str] = {"frames_written": "video frames", "lines_written": "JSONL lines",
                                 "images_written": "images"}
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
    allow_imports: Sequence[str] = (),
    executor: str = "threads",
    timeout: float | None = None,
    trace: str | Path | None = None,
    stats: bool = False,
    stats_json: str | Path | None = None,
    serve: str | int | None = None,
    serve_stream: str | None = None,
    serve_fps: float = SERVE_FPS_DEFAULT,
) -> int:
    """Run ``graph_path`` on ``input`` with the sinks asked for; returns the process exit code (see module doc).

    graph_path: an app graph (input stream ``image``) or a self-contained graph. input: "0" (webcam index), a
    video file, URL, image folder or glob; None = camera 0 if one answers. output: annotated video path.
    show: on-screen window (``display`` swaps the backend; default OpenCV highgui). jsonl: structured results.
    side: input side packets of the app graph. options: the app graph's options (``max_num_hands: 1``).
    images_dir: annotated frames as images. width/height/fps/loop/start/end/max_frames/realtime/retries:
    ``VideoSource`` options. flow_limit: None = only for live sources. render_options: ``Renderer`` options.
    observers: stream name -> callback(packet) on the (wrapper) graph's streams, e.g. ``{"hands": ...}``.
    progress: show the progress bar / stats line on ``stream`` (default stderr).
    allow_imports: modules whose ``module:Class`` calculators the graphs may import (the caller's permission; a
    graph file cannot grant it).
    executor/trace: as for ``Graph``. timeout: stop the source after this many seconds, drain, return 1.
    stats/stats_json: print the per-node table on stdout / write the stats JSON at the end.
    serve: "[HOST:]PORT" of a live web view (127.0.0.1 unless a host is given; ``graphflow.serve``);
    serve_stream: the image stream it shows (default: the rendered frames). serve_fps: frames a second it sends at
    most, for all browsers together (0: every frame).
    """
    out = stream or sys.stderr

    def fail(message: str, code: int) -> int:
        out.write(f"graphflow: {message}\n")
        out.flush()
        return code

    allow = tuple(allow_imports)
    try:
        app = Graph.from_yaml(graph_path, executor=executor, trace=trace, allow_imports=allow, **(options or {}))
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
        try:
            VideoSourceCalculator.Options(**src_opts)  # the source's own rules (e.g. max_frames >= 0), before work
        except ValueError as exc:
            return fail(str(exc).replace("option 'max_frames'", "--max-frames"), 2)
        clash = output_clash(spec, {"--output": output, "--jsonl": jsonl, "--images-dir": images_dir})
        if clash:
            return fail(clash, 2)
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
            graph = Graph.from_yaml(wrapper, executor=executor, trace=trace, allow_imports=allow)
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
                app = Graph.from_yaml(graph_path, executor=executor, trace=trace, allow_imports=allow,
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
    watch = RunWatch(graph, bar, out, serve=serve, serve_stream=serve_stream, serve_fps=serve_fps, title=label,
                     timeout=timeout, stats=stats, stats_json=stats_json, trace=trace, frames_stream=counted)
    capture_times: dict[int, float] = {}
    capture_lock = threading.Lock()
    if counted is not None and APP_INPUT in app_inputs:

        def on_capture(packet: Any) -> None:
            with capture_lock:
                capture_times[int(packet.timestamp)] = packet.payload

        def on_frame(packet: Any) -> None:
            ts = int(packet.timestamp)
            with capture_lock:
                t = capture_times.pop(ts, None)
                for k in [k for k in capture_times if k < ts]:
                    del capture_times[k]  # frames the flow limiter dropped
            bar.frame(None if t is None else (time.monotonic() - t) * 1000.0)

        graph.observe(_CAPTURE, on_capture)
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
            # In slices, not timeout=None: after a cancel() from the main thread the engine's wait is never woken
            # (issue 10), but the next call sees the closed graph and returns at once.
            while True:
                try:
                    graph.wait_until_done(timeout=WAIT_SLICE_S)
                    break
                except GraphTimeoutError:
                    continue
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
        return fail(describe_failure(exc), exit_code(exc))
    except KeyboardInterrupt:
        stop.set()
        _abandon(graph)
        watch.finish(ran=False)
        return fail("interrupted while starting", 130)
    # A daemon: if the graph is cancelled and wait_until_done never returns, it cannot hold the interpreter open.
    watch.arm(side_packets.get(_STOP))
    waiter = threading.Thread(target=wait_for_graph, name="graphflow-app-wait", daemon=True)
    interrupts = _Interrupts(stop, done)
    display_error: BaseException | None = None
    with interrupts.installed():
        waiter.start()
        try:
            if queue is not None and backend is not None:
                try:
                    if queue.pump(backend, until=interrupts.wake) and not interrupts.count:
                        stop.set()  # 'q' or Esc: end the source, drain, finish normally
                except KeyboardInterrupt:  # raised by a backend (or off the main thread): same as the signal
                    interrupts(signal.SIGINT, None)
            _watch(graph, done, interrupts, bar, out)
        except Exception as exc:  # noqa: BLE001 - the display backend failed: the run cannot go on
            display_error = exc
            stop.set()
            interrupts.abandon.set()
        abandoned = interrupts.abandon.is_set() and not done.is_set()
        if abandoned:
            if display_error is None:
                out.write("graphflow: abandoning the drain; closing the outputs\n")
                out.flush()
            _abandon(graph)
            if queue is not None:
                queue.finish()
            waiter.join(timeout=WAITER_JOIN_AFTER_CANCEL_S)
        else:
            waiter.join(timeout=WAITER_JOIN_S)
            if waiter.is_alive():
                _abandon(graph)
                waiter.join(timeout=WAITER_JOIN_AFTER_CANCEL_S)
        bar.close(_dropped(graph))
        watch.finish()
    interrupted = interrupts.count > 0
    if errors and not abandoned:
        _abandon(graph)  # a failed graph returns from wait_until_done before every node closed: close them now
    out.write(run_summary(graph, finished=bar.count) + "\n")
    out.flush()
    if display_error is not None:
        return fail(f"the display failed: {type(display_error).__name__}: {display_error}", 1)
    # After a cancel, the waiter may report the cancel itself (or not return at all): only a node's own failure
    # counts then. Engine note (issue 10): wait_until_done() can raise IndexError when another thread cancels.
    failure = graph.error if abandoned else (errors[0] if errors else None)
    if failure is not None:
        return fail(describe_failure(failure), exit_code(failure))
    if interrupted:
        return 130
    if watch.timed_out:
        return fail(f"--timeout {timeout:g} s: gave up; the source was stopped and the frames in flight drained "
                    f"({bar.count} frames done)", 1)
    return 0


def _watch(graph: Graph, done: threading.Event, interrupts: _Interrupts, bar: Progress, out: IO[str]) -> None:
    """Update the progress until the graph is done or the drain is abandoned; say once that Ctrl-C was seen (also
    when the drain finished within the same wait)."""
    announced = False

    def announce() -> None:
        nonlocal announced
        if interrupts.count and not announced:
            announced = True
            out.write("\ngraphflow: stopping (Ctrl-C again to abandon the drain)...\n")
            out.flush()

    while not interrupts.abandon.is_set():
        try:
            announce()
            if done.wait(0.1):
                break
            bar.update(_dropped(graph))
        except KeyboardInterrupt:  # off the main thread, where no handler is installed
            interrupts(signal.SIGINT, None)
    announce()


class _Interrupts:
    """Ctrl-C while the graph runs, as flags instead of a ``KeyboardInterrupt`` that could land anywhere.

    The first SIGINT sets ``stop`` (the source ends, the graph drains); the second sets ``abandon``. ``wake`` is
    set by either the graph finishing (``done``) or ``abandon``: what the display pump waits for. The handler is
    installed only on the main thread (elsewhere Python delivers no SIGINT anyway) and restored afterwards.
    """

    def __init__(self, stop: threading.Event, done: threading.Event) -> None:
        self.stop, self.done = stop, done
        self.count = 0
        self.abandon = threading.Event()
        self.wake = _AnyEvent(done, self.abandon)

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.stop.set()
        if self.count >= 2:
            self.abandon.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class _AnyEvent:
    """``is_set`` of several events (what ``DisplayQueue.pump(until=...)`` polls)."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


def _abandon(graph: Graph) -> None:
    """Cancel the run now: every opened node's ``close`` runs (the outputs are finalised). Further Ctrl-Cs are
    ignored meanwhile (when called on the main thread), so they cannot cut a video file's finalisation short."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        graph.cancel(timeout=ABANDON_TIMEOUT_S)
    except GraphflowError:
        pass  # the node's own error, if any, is reported from graph.error
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _root_cause(exc: BaseException) -> BaseException:
    return exc.__cause__ if isinstance(exc, GraphError) and exc.__cause__ is not None else exc


def exit_code(exc: BaseException) -> int:
    """2 when the input or the configuration is at fault (it cannot be opened, yields no frame), else 1."""
    cause = _root_cause(exc)
    return 2 if isinstance(exc, ConfigError) or isinstance(cause, SourceOpenError) else 1


def describe_failure(exc: BaseException) -> str:
    """One line: which node failed and why."""
    if isinstance(exc, GraphError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        where = f"node '{exc.node}'" if exc.node else "the graph"
        return f"{where} failed: {detail}"
    if isinstance(exc, GraphflowError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare the names
        return Path(a).resolve() == Path(b).resolve()


def output_clash(spec: SourceSpec, outputs: dict[str, str | None]) -> str | None:
    """Why these outputs would destroy the input or each other (one line), or None.

    spec: the input; outputs: flag -> path (None = not asked for). Image inputs clash with an output that is one
    of the images or, for ``--images-dir``, the folder that holds them.
    """
    given = {flag: path for flag, path in outputs.items() if path}
    inputs: list[str] = []
    if spec.kind == "file":
        inputs = [str(spec.target)]
    elif spec.kind == "images":
        inputs = [str(p) for p in spec.target]
    for flag, path in given.items():
        for source in inputs:
            if _same_file(path, source) or (flag == "--images-dir" and _same_file(path, Path(source).parent)):
                return (f"{flag} '{path}' is the input {'file' if flag != '--images-dir' else 'folder'} '{source}': "
                        f"writing it would destroy the input; name another {flag[2:]}")
    flags = list(given)
    for i, first in enumerate(flags):
        for second in flags[i + 1:]:
            if _same_file(given[first], given[second]):
                return f"{first} and {second} name the same file '{given[first]}'; give each output its own name"
    return None


def run_summary(graph: Graph, finished: int | None = None) -> str:
    """The end-of-run line: frames read and (``finished``) through the graph, what was skipped or dropped, what
    was written. Frames read but neither through nor dropped were abandoned (a second Ctrl-C, a failure)."""
    try:
        stats = graph.stats()
    except Exception as exc:  # noqa: BLE001 - a summary must never turn a run into a failure
        return f"graphflow: (no summary: {type(exc).__name__}: {exc})"
    skipped: Counter[str] = Counter()
    written: Counter[str] = Counter()
    for node in stats["nodes"].values():
        counters = node["counters"]
        for key, value in counters.items():
            if not value:
                continue
            if key in SKIPPED_WORDS or key.startswith("dropped"):
                skipped[key] += value
            elif key in WRITTEN_WORDS:
                written[key] += value
        skipped["queue_drops"] += sum(i["drops"] for i in node["inputs"].values())
    parts = [f"{value} {SKIPPED_WORDS.get(key, key.replace('_', ' '))}" for key, value in skipped.items() if value]
    frames = stats["streams"].get(_FRAMES, {}).get("packets")
    line = "graphflow: run ended" + (f": {frames} frames read" if frames is not None else "")
    if frames is not None and finished is not None:
        line += f", {finished} through the graph"
    line += "; skipped: " + (", ".join(parts) if parts else "nothing")
    if written:
        line += "; wrote " + ", ".join(f"{value} {WRITTEN_WORDS[key]}" for key, value in written.items())
    return line
