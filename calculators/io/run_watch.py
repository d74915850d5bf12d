"""What ``run_app`` does around a run besides running it: the live view (``serve=``), ``timeout=``, and the end
of run reports (``stats=``, ``stats_json=``, ``trace=``): the same flags ``graphflow run`` has on every path.

    watch = RunWatch(graph, progress, out, serve="8000", timeout=60.0, stats=True)
    watch.open(default_stream="gf_rendered")   # before graph.start(): observes the stream, starts the server
    graph.start(...); watch.arm(stop_event)     # the timeout starts counting
    ...                                         # wait for the graph; watch.timed_out tells why it ended
    watch.finish()                              # server closed, stats printed/written, trace location said
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from graphflow import ConfigError
from graphflow.cli_flags import SERVE_FPS_DEFAULT, check_serve_fps
from graphflow.errors import GraphflowError
from graphflow.progress import Progress
from graphflow.run_report import write_run_reports

#: seconds a graph without a ``stop`` event gets to drain after ``timeout`` before ``graph.stop`` gives up
STOP_DRAIN_S = 10.0


def image_streams(graph: Any) -> list[str]:
    """Streams of ``graph`` declared to carry images (np.ndarray), in the graph's order."""
    return [name for name, tp in graph.validated.stream_types.items() if tp is np.ndarray]


def pick_serve_stream(graph: Any, requested: str | None, default: str | None) -> str | None:
    """The image stream the live view shows: ``requested`` (checked), else ``default``, else the graph's first
    image output stream, else None (the page then shows stats and topology only)."""
    images = image_streams(graph)
    if requested:
        if requested not in graph.validated.stream_types:
            raise ConfigError(f"--serve-stream: no stream named '{requested}'",
                              hint=f"image streams of this run: {', '.join(images) or 'none'}")
        if requested not in images:
            raise ConfigError(f"--serve-stream: stream '{requested}' does not carry images",
                              hint=f"image streams of this run: {', '.join(images) or 'none'}")
        return requested
    if default is not None:
        return default
    outputs = [name for name, _ in graph.spec.output_streams if name in images]
    return outputs[0] if outputs else None


class RunWatch:
    def __init__(self, graph: Any, progress: Progress, out: IO[str], *, serve: str | int | None = None,
                 serve_stream: str | None = None, serve_fps: float = SERVE_FPS_DEFAULT, title: str = "",
                 timeout: float | None = None,
                 stats: bool = False, stats_json: str | Path | None = None, trace: str | Path | None = None,
                 frames_stream: str | None = None) -> None:
        self.graph, self.progress, self.out = graph, progress, out
        self.serve, self.serve_stream, self.title = serve, serve_stream, title
        self.serve_fps = serve_fps
        self.timeout, self.stats, self.stats_json, self.trace = timeout, stats, stats_json, trace
        self.frames_stream = frames_stream
        self.server: Any = None
        self._timer: threading.Timer | None = None
        self._timed_out = threading.Event()
        self._stop: threading.Event | None = None

    @property
    def timed_out(self) -> bool:
        return self._timed_out.is_set()

    def app_figures(self) -> dict[str, Any]:
        """The application's own figures for the live page: frames done, fps, end-to-end latency (ms)."""
        return {"frames": self.progress.count, "fps": self.progress.fps(),
                "latency_ms": self.progress.latency_summary(), "frames_stream": self.frames_stream}

    def open(self, default_stream: str | None) -> None:
        """Before ``graph.start()``: start the live view when asked (raises ConfigError / ServeError)."""
        if self.serve is None:
            return
        from .live_view import start_live_view

        fps = check_serve_fps(self.serve_fps)
        stream = pick_serve_stream(self.graph, self.serve_stream, default_stream)
        self.server = start_live_view(self.graph, self.serve, stream=stream, title=self.title,
                                      extra=self.app_figures, out=self.out, fps=fps)

    def arm(self, stop: threading.Event | None) -> None:
        """After ``graph.start()``: the timeout counts from here; on expiry the source is stopped (``stop``) or,
        for a graph without one, ``graph.stop`` ends its sources; either way what is in flight drains."""
        self._stop = stop
        if self.timeout is not None:
            self._timer = threading.Timer(self.timeout, self._expire)
            self._timer.name = "graphflow-run-timeout"
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        self._timed_out.set()
        self.out.write(f"\ngraphflow: --timeout {self.timeout:g} s reached: stopping the source, draining...\n")
        self.out.flush()
        if self._stop is not None:
            self._stop.set()
            return
        try:
            self.graph.stop(timeout=STOP_DRAIN_S)
        except GraphflowError as exc:
            self.out.write(f"graphflow: while stopping: {exc}\n")

    def finish(self, ran: bool = True) -> None:
        """After the run (also after a failure or Ctrl-C): timer off, server closed, reports written."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join(timeout=STOP_DRAIN_S + 5.0)
        if self.server is not None:
            self.server.close()
            self.server = None
        if ran and (self.stats or self.stats_json or self.trace):
            write_run_reports(self.graph.stats(), print_table=self.stats, stats_json=self.stats_json,
                              trace=self.trace, err=self.out)
