"""``LiveServer``: a read-only web page that watches a running graph (aiohttp, on a thread of its own).

Endpoints (all GET except the trace, none changes the graph or reads a file; the page's assets are loaded from
the package once, at start, into memory):

- ``/``, ``/static/NAME``: the page (``static/index.html``, ``live.js``, ``live.css``, vendored ``dagre.min.js``);
- ``/api/topology``: nodes, edges and groups (``topology.py``);
- ``/api/stats``: ``graph.stats()`` plus rates and the application's figures (``snapshot.py``), sampled and
  serialised at most twice a second for all browsers together;
- ``/api/frame?after=SEQ``: the latest frame as JPEG, waiting up to ``LONG_POLL_S`` for one newer than ``SEQ``.
  The graph only ever hands over a reference to its newest frame (``FrameSource``); encoding happens here, on the
  server's thread, only while a browser waits, from the newest frame, once per frame for all browsers and at
  most ``fps`` times a second (``--serve-fps``; a browser that asks sooner gets the last encoding if it has not
  seen it, else waits for the next slot). A slow or paused browser is simply served a newer frame when it asks;
- ``/stream.mjpg``: the same frames as an MJPEG stream (for ``<img>`` tags, VLC, ffplay);
- ``POST /api/trace?seconds=N``: ``graph.start_trace()``, wait, ``graph.stop_trace()``; the Perfetto JSON comes
  back as a download. The request must carry ``X-Requested-By: graphflow`` (a cross-site form cannot).

Security: binds ``127.0.0.1`` unless told otherwise (``address.py`` warns about any other interface); when bound
to loopback, requests whose ``Host`` is not a loopback name are refused (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import IO, Any, Protocol

from .address import LOOPBACK_NAMES, Address, is_loopback
from .snapshot import StatsSampler
from .topology import topology

#: longest wait of ``/api/frame`` for a frame newer than the one the page has
LONG_POLL_S = 1.0
#: frames encoded per second at most, for all browsers together (``--serve-fps``; 0: every frame the graph makes)
DEFAULT_SERVE_FPS = 10.0
#: trace length bounds (seconds) for the trace button
TRACE_SECONDS_DEFAULT, TRACE_SECONDS_MAX = 3.0, 30.0
#: the header a trace request must carry
TRACE_HEADER = ("X-Requested-By", "graphflow")
#: the page's files, shipped in graphflow/serve/static (name -> content type)
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "live.css": "text/css; charset=utf-8",
    "dagre.min.js": "text/javascript; charset=utf-8",
    "LICENSE.dagre.txt": "text/plain; charset=utf-8",
}
_MJPEG_BOUNDARY = "graphflowframe"


class FrameSource(Protocol):
    """The newest frame of the watched image stream. ``seq`` counts frames; ``jpeg()`` -> (seq, timestamp_us,
    JPEG bytes) of the newest one (encoded on the server's thread, so the encoder should release the GIL), or None
    before the first; ``encoded``: the last result of ``jpeg()`` (None before one); ``listener`` (set by the
    server) is called on the graph's thread after each new frame and must return at once
    (``calculators/io/live_view.py``)."""

    listener: Callable[[], None] | None

    @property
    def seq(self) -> int: ...
    @property
    def encoded(self) -> tuple[int, int, bytes] | None: ...
    def jpeg(self) -> tuple[int, int, bytes] | None: ...


class ServeError(RuntimeError):
    """The live view could not start (address in use, cannot bind)."""


def _host_name(host: str) -> str:
    """The name part of a Host header: ``localhost:8000`` -> ``localhost``, ``[::1]:8000`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.rpartition(":")[0].lower() if ":" in host else host.lower()


def _load_assets() -> dict[str, bytes]:
    folder = resources.files(__package__) / "static"
    return {name: (folder / name).read_bytes() for name in ASSETS}


class LiveServer:
    """Serves the live page for ``graph`` at ``address`` from a daemon thread; ``start()`` returns the URL.

    frames: the image stream to show (None: the page shows only stats and topology). title: the page heading.
    extra: application figures for the stats (frames, end-to-end latency). fps: frames encoded per second at most,
    for all browsers together (0: every frame). Use as a context manager or call ``close()``; closing never
    touches the graph.
    """

    def __init__(self, graph: Any, address: Address, *, frames: FrameSource | None = None, title: str = "",
                 extra: Callable[[], dict[str, Any]] | None = None, stream_name: str = "",
                 out: IO[str] | None = None, fps: float = DEFAULT_SERVE_FPS) -> None:
        if not fps >= 0 or fps == float("inf"):
            raise ValueError(f"fps: frames a second the live view encodes at most, a number >= 0 (0: every frame), "
                             f"not {fps!r}")
        self.graph, self.address, self.frames = graph, address, frames
        self.fps = float(fps)
        self._frame_interval = 1.0 / fps if fps else 0.0
        self._next_encode = float("-inf")  # loop time of the next encoding slot
        self.title = title or topology(graph.validated)["name"]
        self.stream_name = stream_name
        self.out = out or sys.stderr
        self.sampler = StatsSampler(graph.stats, extra)
        self._topology = json.dumps({**topology(graph.validated), "title": self.title,
                                     "stream": stream_name}).encode()
        self._assets = _load_assets()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._trace_busy = False
        self._new_frame: asyncio.Event | None = None
        self._waiting = 0  # requests waiting for a newer frame (read on the graph's thread: a plain int)
        self.port = address.port
        self.clients = 0  # requests being served now (frames, streams, stats)

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = self.address.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/"

    def start(self) -> str:
        from aiohttp import web  # noqa: F401 - fail here, in the caller's thread, if aiohttp is missing

        self._thread = threading.Thread(target=self._run, name="graphflow-live-view", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise ServeError(f"--serve {self.address.text}: cannot listen there ({self._error}); pick another port "
                             f"(e.g. --serve {self.address.host}:0 for any free one)") from self._error
        if not is_loopback(self.address.host):
            self.out.write(
                f"graphflow: WARNING: the live view listens on {self.address.host}:{self.port}, not only on this "
                "machine: anyone who can reach it sees the video and the graph's stats (there is no login). "
                f"Prefer the default 127.0.0.1 and SSH port forwarding (ssh -L {self.port}:127.0.0.1:{self.port} "
                "HOST).\n")
        self.out.write(f"graphflow: live view at {self.url}\n")
        self.out.flush()
        return self.url

    def close(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self.frames is not None:
            self.frames.listener = None
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        self._stopping = asyncio.Event()
        self._new_frame = asyncio.Event()
        if self.frames is not None:
            self.frames.listener = self._wake

        @web.middleware
        async def guard(request: Any, handler: Any) -> Any:
            return await self._host_guard(request, handler)

        app = web.Application(middlewares=[guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._asset)
        app.router.add_get("/api/topology", self._topology_json)
        app.router.add_get("/api/stats", self._stats)
        app.router.add_get("/api/frame", self._frame)
        app.router.add_get("/stream.mjpg", self._mjpeg)
        app.router.add_post("/api/trace", self._trace)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.address.host, self.address.port)
            await site.start()
            if runner.addresses:
                self.port = int(runner.addresses[0][1])
        except OSError as exc:
            self._error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    # ---- handlers ----------------------------------------------------------------------------------------------
    @staticmethod
    def _json(doc: Any, status: int = 200) -> Any:
        from aiohttp import web

        return web.Response(body=json.dumps(doc, default=str).encode(), status=status,
                            content_type="application/json", headers={"Cache-Control": "no-store"})

    async def _host_guard(self, request: Any, handler: Any) -> Any:
        from aiohttp import web

        if is_loopback(self.address.host):
            if _host_name(request.host or "") not in LOOPBACK_NAMES:
                return web.Response(status=403, text="this live view answers only to localhost names\n")
        return await handler(request)

    async def _index(self, request: Any) -> Any:
        return self._asset_response("index.html")

    async def _asset(self, request: Any) -> Any:
        from aiohttp import web

        name = request.match_info["name"]
        if name not in self._assets:  # a fixed table: nothing here opens a path from the request
            raise web.HTTPNotFound()
        return self._asset_response(name)

    def _asset_response(self, name: str) -> Any:
        from aiohttp import web

        return web.Response(body=self._assets[name], headers={"Content-Type": ASSETS[name],
                                                                 "Cache-Control": "no-cache"})

    async def _topology_json(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(body=self._topology, content_type="application/json")

    async def _stats(self, request: Any) -> Any:
        from aiohttp import web

        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, self.sampler.snapshot_json)  # b'{...}', shared by every browser
        head = b'{"clients": %d, "time": %.6f, ' % (self.clients, time.time())
        return web.Response(body=head + body[1:], content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    def _wake(self) -> None:
        """On the graph's thread, after a new frame: schedule a wake-up, and only while a request waits."""
        loop = self._loop
        if self._waiting and loop is not None:
            try:
                loop.call_soon_threadsafe(self._frame_arrived)
            except RuntimeError:  # the server is shutting down: nobody is waiting any more
                pass

    def _frame_arrived(self) -> None:  # on the server's loop
        assert self._new_frame is not None
        self._new_frame.set()
        self._new_frame = asyncio.Event()

    async def _next_frame(self, after: int) -> tuple[int, int, bytes] | None:
        """A frame newer than ``after`` within ``LONG_POLL_S``, or None. Within one fps slot every browser gets the
        slot's encoding; a browser that has it waits for the next slot (asleep: the graph's frames do not wake the
        loop meanwhile) and then the newest frame is encoded (``jpeg()`` encodes each frame once at most)."""
        frames, stopping = self.frames, self._stopping
        assert frames is not None and stopping is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LONG_POLL_S
        newest = max(after, 0)  # frame numbers start at 1: there is nothing to show before the first
        while not stopping.is_set():
            now = loop.time()
            encoded = frames.encoded
            if encoded is not None and encoded[0] > newest and now < self._next_encode:
                return encoded  # this slot's encoding (another browser asked for it), not seen here: no new work
            if now >= deadline:
                return None
            if frames.seq > newest:
                if now >= self._next_encode:
                    self._next_encode = now + self._frame_interval
                    return frames.jpeg()  # on this thread: a few ms, with the GIL released by the encoder
                await self._sleep(min(self._next_encode, deadline) - now)
            else:
                await self._wait_for_frame(newest, deadline - now)
        return None

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or less if the server is closing."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _wait_for_frame(self, newest: int, seconds: float) -> None:
        """Until the graph hands over a frame newer than ``newest`` (it wakes this loop only while one waits)."""
        assert self.frames is not None and self._new_frame is not None
        self._waiting += 1
        try:
            arrived = self._new_frame
            if self.frames.seq > newest:  # it came between the caller's check and now
                return
            try:
                await asyncio.wait_for(arrived.wait(), seconds)
            except TimeoutError:
                pass
        finally:
            self._waiting -= 1

    async def _frame(self, request: Any) -> Any:
        from aiohttp import web

        if self.frames is None:
            return web.Response(status=404, text="this run has no image stream to show\n")
        try:
            after = int(request.query.get("after", "-1"))
        except ValueError:
            return web.Response(status=400, text="after= takes the last frame number the page has\n")
        self.clients += 1
        try:
            got = await self._next_frame(after)
        finally:
            self.clients -= 1
        if got is None:
            return web.Response(status=204, headers={"Cache-Control": "no-store"})
        seq, ts, data = got
        return web.Response(body=data, content_type="image/jpeg",
                            headers={"X-Frame-Seq": str(seq), "X-Frame-Timestamp": str(ts),
                                     "Cache-Control": "no-store"})

    async def _mjpeg(self, request: Any) -> Any:
        from aiohttp import web

        if self.frames is None:
            return web.Response(status=404, text="this run has no image stream to show\n")
        assert self._stopping is not None
        response = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={_MJPEG_BOUNDARY}", "Cache-Control": "no-store"})
        await response.prepare(request)
        self.clients += 1
        seen = -1
        try:
            while not self._stopping.is_set():
                got = await self._next_frame(seen)
                if got is None:
                    continue
                seen, ts, data = got
                head = (f"--{_MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
                        f"X-Frame-Timestamp: {ts}\r\n\r\n").encode()
                await response.write(head + data + b"\r\n")  # waits for this browser only
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients -= 1
        return response

    async def _trace(self, request: Any) -> Any:
        if request.headers.get(TRACE_HEADER[0]) != TRACE_HEADER[1]:
            return self._json({"error": f"a trace request needs the header {TRACE_HEADER[0]}: {TRACE_HEADER[1]}"},
                              403)
        start = getattr(self.graph, "start_trace", None)
        stop = getattr(self.graph, "stop_trace", None)
        if not callable(start) or not callable(stop):
            return self._json({"error": "this engine cannot capture a trace of a running graph "
                                        "(Graph.start_trace/stop_trace are missing)"}, 501)
        try:
            seconds = float(request.query.get("seconds", TRACE_SECONDS_DEFAULT))
        except ValueError:
            return self._json({"error": "seconds= takes a number"}, 400)
        seconds = min(TRACE_SECONDS_MAX, max(0.1, seconds))
        if self._trace_busy:
            return self._json({"error": "a trace is already being recorded; wait for it"}, 409)
        self._trace_busy = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, start)
            try:
                await asyncio.sleep(seconds)
            finally:
                doc = await loop.run_in_executor(None, stop)
        except Exception as exc:  # noqa: BLE001 - e.g. the graph finished meanwhile: tell the page
            return self._json({"error": f"trace failed: {type(exc).__name__}: {exc}"}, 409)
        finally:
            self._trace_busy = False
        name = time.strftime("graphflow-trace-%Y%m%d-%H%M%S.json")
        from aiohttp import web

        return web.Response(body=json.dumps(doc).encode(), content_type="application/json",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
