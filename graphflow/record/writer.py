"""RecordWriter: the one place where packets become an MCAP file, on its own thread behind a bounded queue.

The graph's threads only enqueue (``put_packet``/``put_bound`` never block and never encode): when the queue is
full the packet is dropped and counted per stream (stats, the file's ``graphflow.summary`` metadata, and a gap in
the channel's ``sequence`` numbers), so a slow disk never slows the live graph. The writer thread encodes, writes
and flushes a chunk at least every ``flush_interval_s``, so a process that is killed leaves a file whose complete
chunks ``Recording`` replays.

Messages: one channel per stream (topic = the stream name), ``log_time`` = the packet timestamp in ns,
``publish_time`` = wall clock (ns since the epoch) when the packet was seen, ``sequence`` = its index in the stream;
bound advances on the channel ``<stream>:bound``; Foxglove views on ``<stream>:annotations``.
"""

from __future__ import annotations

import io
import json
import queue
import threading
import time
from dataclasses import asdict, dataclass
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

from mcap.writer import CompressionType, Writer

from . import codec, encoders
from .encoders import AUTO, BoundEncoder, StreamEncoder

PROFILE = "graphflow"
META_RUN = "graphflow"
META_SUMMARY = "graphflow.summary"
TIMESTAMP_KEY = "graphflow_timestamp_us"  # the exact timestamp when log_time cannot hold it (negative, specials)
KIND_PACKETS, KIND_BOUNDS, KIND_ANNOTATIONS = "packets", "bounds", "annotations"
BOUND_SUFFIX, ANNOTATION_SUFFIX = ":bound", ":annotations"  # ':' never occurs in a stream name
NS_PER_US = 1_000
U64_MAX = 2**64 - 1
COMPRESSIONS = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
DEFAULT_QUEUE_SIZE = 64
DEFAULT_CHUNK_BYTES = 1 << 20
DEFAULT_FLUSH_INTERVAL_S = 1.0
_PACKET, _BOUND = 0, 1


class RecordError(RuntimeError):
    """The recording could not be written completely (I/O error, unencodable packets)."""


def graphflow_version() -> str:
    try:
        return _metadata.version("graphflow")
    except _metadata.PackageNotFoundError:
        return "unknown"


def log_time_ns(timestamp_us: int) -> tuple[int, bool]:
    """(MCAP log time, exact?) for a timestamp in microseconds."""
    ns = timestamp_us * NS_PER_US
    if 0 <= ns <= U64_MAX:
        return ns, True
    return (0 if ns < 0 else U64_MAX), False


@dataclass
class StreamCounts:
    seen: int = 0            # packets offered (the next packet's sequence number)
    recorded: int = 0        # packets written
    dropped: int = 0         # packets dropped because the recorder's queue was full
    bounds: int = 0          # bound advances written
    bounds_dropped: int = 0
    unencodable: int = 0     # packets the stream's encoder refused (the first error is kept)
    bytes: int = 0           # message bytes written (packets + annotations)


class RecordWriter:
    """Write ``streams`` ({name: declared type}) to ``path``. Thread-safe ``put_*``; ``close`` once.

    encodings: {stream: encoding} ("auto", "tree", "raw_image", "jpeg", ...); others get "auto".
    image_encoding: what "auto" uses for image-like arrays ("raw_image" lossless, "jpeg" small).
    """

    def __init__(self, path: str | Path, streams: dict[str, Any], *, encodings: dict[str, str] | None = None,
                 image_encoding: str = "raw_image", compression: str = "zstd",
                 queue_size: int = DEFAULT_QUEUE_SIZE, annotations: bool = True,
                 metadata: dict[str, str] | None = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S) -> None:
        encodings = dict(encodings or {})
        unknown = sorted(set(encodings) - set(streams))
        if unknown:
            raise ValueError(f"encodings given for streams that are not recorded: {', '.join(unknown)}")
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression '{compression}' is not one of {', '.join(COMPRESSIONS)}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        encoders.make_encoder(image_encoding)
        self._encoding = {s: encodings.get(s, AUTO) for s in streams}
        for stream, declared in streams.items():
            encoders.check_stream(stream, declared, self._encoding[stream])  # one line, before any file exists
        self.path = Path(path)
        self.image_encoding = image_encoding
        self.annotations = annotations
        self.flush_interval_s = flush_interval_s
        self.counts = {s: StreamCounts() for s in streams}
        self.errors: dict[str, str] = {}
        self._fatal: BaseException | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=queue_size)
        self._encoders: dict[str, StreamEncoder] = {}
        self._channels: dict[tuple[str, str], int] = {}
        self._schemas: dict[str, int] = {}
        self._bound_encoder = BoundEncoder()
        self._image_size: tuple[int, int] | None = None
        self._closed = False
        self._file: io.BufferedWriter = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._mcap = Writer(self._file, chunk_size=chunk_bytes, compression=COMPRESSIONS[compression],
                            enable_crcs=True)
        self._mcap.start(profile=PROFILE, library=f"graphflow {graphflow_version()}")
        run = {"version": graphflow_version(), "streams": json.dumps(list(streams)),
               "encodings": json.dumps(self._encoding), "image_encoding": image_encoding,
               "started_at_ns": str(time.time_ns())}
        run.update(metadata or {})
        self._mcap.add_metadata(META_RUN, run)
        self._mcap.flush()
        self._thread = threading.Thread(target=self._loop, name=f"graphflow-recorder:{self.path.name}", daemon=True)
        self._thread.start()

    # ---- producer side (any thread) ------------------------------------------------------------------------------
    def put_packet(self, stream: str, timestamp_us: int, payload: Any) -> bool:
        """Enqueue a packet; False (and counted) when the queue is full or the writer is closed."""
        c = self.counts[stream]
        with self._lock:
            seq = c.seen
            c.seen += 1
            if self._closed:
                c.dropped += 1
                return False
            try:
                self._queue.put_nowait((_PACKET, stream, timestamp_us, payload, time.time_ns(), seq))
            except queue.Full:
                c.dropped += 1
                return False
        return True

    def put_bound(self, stream: str, timestamp_us: int) -> bool:
        c = self.counts[stream]
        with self._lock:
            if self._closed:
                c.bounds_dropped += 1
                return False
            try:
                self._queue.put_nowait((_BOUND, stream, timestamp_us, None, time.time_ns(), c.bounds))
            except queue.Full:
                c.bounds_dropped += 1
                return False
        return True

    # ---- writer thread -------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval_s)
            except queue.Empty:
                item = ()
            if item is None:
                return
            if item and self._fatal is None:
                try:
                    self._write(*item)
                except codec.EncodingError as exc:
                    stream = item[1]
                    self.counts[stream].unencodable += 1
                    self.errors.setdefault(stream, f"stream '{stream}' at {item[2]}us: {exc}")
                except BaseException as exc:  # noqa: BLE001 - I/O (a full disk) ends writing; close() reports it
                    self._fatal = exc
            elif item:
                self.counts[item[1]].dropped += 1  # after a fatal I/O error nothing more reaches the file
            if self._fatal is None and time.monotonic() - last_flush >= self.flush_interval_s:
                try:
                    self._mcap.flush()
                except BaseException as exc:  # noqa: BLE001
                    self._fatal = exc
                last_flush = time.monotonic()

    def _channel(self, stream: str, kind: str, encoder: StreamEncoder) -> int:
        key = (stream, kind)
        cid = self._channels.get(key)
        if cid is None:
            schema = encoder.schema if kind != KIND_ANNOTATIONS else encoders.ANNOTATIONS_SCHEMA
            sid = self._schemas.get(schema.name)
            if sid is None:
                sid = self._schemas[schema.name] = self._mcap.register_schema(schema.name, schema.encoding,
                                                                              schema.data)
            topic = stream + {KIND_PACKETS: "", KIND_BOUNDS: BOUND_SUFFIX, KIND_ANNOTATIONS: ANNOTATION_SUFFIX}[kind]
            cid = self._channels[key] = self._mcap.register_channel(
                topic, "json", sid, {"graphflow.stream": stream, "graphflow.kind": kind,
                                     "graphflow.encoding": encoder.name if kind == KIND_PACKETS else kind})
        return cid

    def _add(self, channel: int, message: dict[str, Any], timestamp_us: int, wall_ns: int, seq: int) -> int:
        log_ns, exact = log_time_ns(timestamp_us)
        if not exact:
            message[TIMESTAMP_KEY] = timestamp_us
        data = codec.dumps(message)
        self._mcap.add_message(channel, log_time=log_ns, data=data, publish_time=wall_ns, sequence=seq)
        return len(data)

    def _write(self, kind: int, stream: str, ts: int, payload: Any, wall_ns: int, seq: int) -> None:
        c = self.counts[stream]
        if kind == _BOUND:
            cid = self._channel(stream, KIND_BOUNDS, self._bound_encoder)
            self._add(cid, self._bound_encoder.encode(ts, ts, stream), ts, wall_ns, seq)
            c.bounds += 1
            return
        enc = self._encoders.get(stream)
        if enc is None:
            name = self._encoding[stream]
            enc = encoders.resolve_auto(payload, self.image_encoding) if name == AUTO else encoders.make_encoder(name)
            self._encoders[stream] = enc
        message = enc.encode(payload, ts, stream)
        size = self._add(self._channel(stream, KIND_PACKETS, enc), message, ts, wall_ns, seq)
        c.recorded += 1
        image_size = enc.image_size(payload)
        if image_size is not None:
            self._image_size = image_size
        elif self.annotations:
            view = encoders.annotate(payload, ts, self._image_size)
            emptied = isinstance(payload, list) and not payload and (stream, KIND_ANNOTATIONS) in self._channels
            if view is None and emptied:
                view = encoders.empty_annotations()  # no hands now: clear the previous frame's view
            if view is not None:
                size += self._add(self._channel(stream, KIND_ANNOTATIONS, enc), view, ts, wall_ns, seq)
        c.bytes += size

    # ---- end -----------------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            streams = {s: asdict(c) for s, c in self.counts.items()}
        return {"path": str(self.path), "streams": streams, "queue_depth": self._queue.qsize(),
                "drops_total": sum(c["dropped"] + c["bounds_dropped"] for c in streams.values()),
                "errors": dict(self.errors), "closed": self._closed}

    @property
    def failed(self) -> BaseException | None:
        """The I/O error that ended writing (a full disk), if any; later packets are dropped and counted."""
        return self._fatal

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float | None = 60.0) -> dict[str, Any]:
        """Write what is queued, the summary metadata and the MCAP summary; join the thread. Returns ``stats()``.

        Raises ``RecordError`` after finishing the file when writing failed or packets could not be encoded."""
        with self._lock:
            already, self._closed = self._closed, True
        if already:
            return self.stats()
        self._queue.put(None)
        self._thread.join(timeout)
        stats = self.stats()
        if self._thread.is_alive():
            self._fatal = self._fatal or TimeoutError(f"recorder thread did not finish within {timeout} s")
        if self._fatal is None:
            try:
                self._mcap.add_metadata(META_SUMMARY, {
                    "packets": json.dumps({s: c["recorded"] for s, c in stats["streams"].items()}),
                    "drops": json.dumps({s: c["dropped"] for s, c in stats["streams"].items()}),
                    "bounds_dropped": json.dumps({s: c["bounds_dropped"] for s, c in stats["streams"].items()}),
                    "unencodable": json.dumps({s: c["unencodable"] for s, c in stats["streams"].items()}),
                    "drops_total": str(stats["drops_total"]), "ended_at_ns": str(time.time_ns())})
                self._mcap.finish()
            except BaseException as exc:  # noqa: BLE001
                self._fatal = exc
        try:
            self._file.close()
        except OSError as exc:
            self._fatal = self._fatal or exc
        if self._fatal is not None:
            raise RecordError(f"recording {self.path} is incomplete: {self._fatal} "
                              "(what was written before it stays readable)") from self._fatal
        if self.errors:
            first = next(iter(self.errors.values()))
            raise RecordError(f"recording {self.path}: {sum(c['unencodable'] for c in stats['streams'].values())} "
                              f"packet(s) could not be encoded; first: {first}")
        return stats
