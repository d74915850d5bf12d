"""Progress of a run, for a person watching the terminal or reading a log (``graphflow run``, ``run_app``).

- On a terminal: a tqdm bar for files (frames, fps, ETA, drops) and a ``\\r``-rewritten stats line for live
  sources (frames, fps, drops, latency).
- When the stream is not a terminal (a log file, CI, ``nohup``): one plain line every ``interval_s`` seconds
  and a last one at the end, so a long run is never silent and the log is not flooded with bar redraws.
- Disabled (``--quiet``): nothing.

``frame(latency_ms)`` is called from a graph thread for every finished frame; it also keeps the recent
end-to-end latencies (capture -> output) that the live view shows as p50/p95.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any

#: seconds between two plain progress lines when the output is not a terminal
LOG_INTERVAL_S = 5.0
#: seconds between two redraws of the live stats line on a terminal
TTY_INTERVAL_S = 0.5
#: recent end-to-end latencies kept for percentiles
LATENCY_WINDOW = 256
#: weight of the newest latency in the smoothed value of the live line
LATENCY_EMA = 0.1


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Progress:
    """Frames done, fps, drops and latency of a run, drawn on ``stream`` (see the module docstring).

    total: frames expected (0 = unknown / endless). live: a camera or stream (no ETA). tty: None = ask the stream.
    clock: ``time.monotonic`` (a test passes its own). unit: what is counted ("frames", "packets").
    """

    def __init__(self, total: int, live: bool, label: str, stream: IO[str], enabled: bool, *,
                 tty: bool | None = None, interval_s: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, unit: str = "frames") -> None:
        self.total, self.live, self.label, self.stream, self.enabled = total, live, label, stream, enabled
        self.unit = unit
        self.tty = _is_tty(stream) if tty is None else tty
        self.interval_s = interval_s if not self.tty else TTY_INTERVAL_S
        self.count = 0
        self.latency_ms: float | None = None
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._lock = threading.Lock()
        self._clock = clock
        self._t0 = clock()
        self._last_line = self._t0
        self._bar: Any = None
        if enabled and self.tty and not live:
            from tqdm import tqdm

            self._bar = tqdm(total=total or None, unit=unit.rstrip("s"), desc=label, file=stream, dynamic_ncols=True)

    # ---- from graph threads --------------------------------------------------------------------------------------
    def frame(self, latency_ms: float | None) -> None:
        with self._lock:
            self.count += 1
            if latency_ms is not None:
                self._latencies.append(latency_ms)
                self.latency_ms = latency_ms if self.latency_ms is None else \
                    (1 - LATENCY_EMA) * self.latency_ms + LATENCY_EMA * latency_ms

    def latency_summary(self) -> dict[str, float] | None:
        """p50/p95/max of the recent end-to-end latencies (ms), or None before the first frame."""
        with self._lock:
            recent = list(self._latencies)
        if not recent:
            return None
        return {"p50": _percentile(recent, 0.5), "p95": _percentile(recent, 0.95), "max": max(recent)}

    def fps(self) -> float:
        return self.count / max(1e-6, self._clock() - self._t0)

    # ---- from the main thread ------------------------------------------------------------------------------------
    def line(self, dropped: int) -> str:
        """One line: ``label: 120/300 frames, 24.1 fps, dropped 0, latency 80 ms``."""
        done = f"{self.count}/{self.total}" if self.total and not self.live else str(self.count)
        lat = f"{self.latency_ms:.0f} ms" if self.latency_ms is not None else "- ms"
        rate = "fps" if self.unit == "frames" else f"{self.unit}/s"
        text = f"{self.label}: {done} {self.unit}, {self.fps():.1f} {rate}, dropped {dropped}"
        return text + f", latency {lat}" if self.unit == "frames" else text

    def update(self, dropped: int) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"dropped {dropped}", refresh=False)
            self._bar.update(self.count - self._bar.n)
            return
        now = self._clock()
        if now - self._last_line < self.interval_s:
            return
        self._last_line = now
        self._write(dropped)

    def _write(self, dropped: int) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(dropped) + "  ")
        else:
            self.stream.write(self.line(dropped) + "\n")
        self.stream.flush()

    def close(self, dropped: int) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self.update(dropped)
            self._bar.close()
            return
        self._write(dropped)  # the last line always comes, however short the run
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class EngineProgress:
    """Progress lines for an engine-only run (``graphflow run`` without media): packets on the graph's first output
    stream (or the last node's first output), drops from the stats, drawn from a daemon thread while it runs.

        with EngineProgress(graph, enabled=not quiet):
            graph.run(side_packets)
    """

    def __init__(self, graph: Any, *, enabled: bool, stream: IO[str] | None = None) -> None:
        import sys
        from pathlib import Path

        self.graph = graph
        outputs = [name for name, _ in graph.spec.output_streams]
        last = graph.validated.nodes[-1].spec.outputs if graph.validated.nodes else []
        self.counted = outputs[0] if outputs else (last[0].stream if last else None)
        label = Path(graph.spec.source).stem if graph.spec.source else "graph"
        self.progress = Progress(0, True, label, stream or sys.stderr, enabled and self.counted is not None,
                                 unit="packets")
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EngineProgress:
        if self.progress.enabled:
            try:
                self.graph.observe(self.counted, lambda p: self.progress.frame(None))
            except KeyError:  # not observable here (a Ray group's inner stream): run without a progress line
                self.progress.enabled = False
                return self
            self._thread = threading.Thread(target=self._draw, name="graphflow-progress", daemon=True)
            self._thread.start()
        return self

    def _drops(self) -> int:
        try:
            return int(self.graph.stats().get("drops_total", 0))
        except Exception:  # noqa: BLE001 - progress is cosmetic; it never breaks the run
            return 0

    def _draw(self) -> None:
        while not self._done.wait(TTY_INTERVAL_S):
            self.progress.update(self._drops())

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if exc_type is None:  # on an error the error is the last line, not a progress line
                self.progress.close(self._drops())
