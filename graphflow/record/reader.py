"""Recording: read an MCAP file front to back with bounded memory (one chunk at a time).

    rec = Recording("run.mcap")
    for p in rec.packets(streams=["image"]):     # RecordedPacket(stream, kind, timestamp_us, payload, ...)
        ...
    rec.truncated                                 # True when the file ended mid-write (killed recorder)

A file cut mid-write yields every message of its complete chunks and then stops (``truncated`` is set and
``truncated_at`` gives the byte offset); a file that is not MCAP, or whose bytes are damaged before its end, raises
one ``RecordingError`` naming the file and the offset. Files of other tools (rosbag2, Foxglove) can be listed
(``messages``, ``info``) but only graphflow recordings decode into payloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mcap.exceptions import EndOfFile
from mcap.records import Channel, Header, Message, Metadata, Schema
from mcap.stream_reader import StreamReader

from . import codec, encoders
from .encoders import StreamEncoder
from .writer import KIND_ANNOTATIONS, KIND_BOUNDS, KIND_PACKETS, META_RUN, META_SUMMARY, PROFILE, TIMESTAMP_KEY

MAGIC = b"\x89MCAP0\r\n"
RECORD_SIZE_LIMIT = 1 << 30  # a larger length field is damage, not a 1 GiB message


class RecordingError(ValueError):
    """Not an MCAP file, a damaged one, or one graphflow cannot decode."""


@dataclass(frozen=True)
class RecordedPacket:
    """One recorded packet (kind "packets", payload decoded) or bound advance (kind "bounds", payload None)."""

    stream: str
    kind: str
    timestamp_us: int
    payload: Any
    sequence: int
    publish_time_ns: int
    data: bytes  # the message bytes as recorded (what "bit for bit" compares)


@dataclass(frozen=True)
class RawMessage:
    channel: Channel
    schema: Schema | None
    message: Message


class _CountingFile:
    """The file, with how far the reader has got (to tell a cut file from a damaged one)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.pos += len(data)
        return data


class Recording:
    """A recording on disk. Cheap to construct (reads the header and the run metadata); iterate as often as
    needed: every iteration streams the file again."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordingError(f"{self.path}: no such recording")
        self.size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            head = f.read(len(MAGIC))
        if head != MAGIC:
            raise RecordingError(f"{self.path}: not an MCAP file (it starts with {head[:8]!r}, MCAP files with "
                                 f"{MAGIC!r}); record one with `graphflow record`")
        self.truncated = False
        self.truncated_at: int | None = None
        self.profile = ""
        self.library = ""
        self.run_metadata: dict[str, str] = {}
        self.summary_metadata: dict[str, str] | None = None
        for record in self._records(stop_at_first_message=True):
            if isinstance(record, Header):
                self.profile, self.library = record.profile, record.library
            elif isinstance(record, Metadata) and record.name == META_RUN:
                self.run_metadata = dict(record.metadata)
                break

    @property
    def is_graphflow(self) -> bool:
        return self.profile == PROFILE

    def __repr__(self) -> str:
        return f"<Recording {self.path} profile={self.profile!r}{' truncated' if self.truncated else ''}>"

    # ---- raw records ---------------------------------------------------------------------------------------------
    def _records(self, stop_at_first_message: bool = False) -> Iterator[Any]:
        with open(self.path, "rb") as raw:
            f = _CountingFile(raw)
            reader = StreamReader(f, validate_crcs=True, record_size_limit=RECORD_SIZE_LIMIT)  # type: ignore[arg-type]
            it = iter(reader.records)
            while True:
                try:
                    record = next(it)
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - any failure: a cut file or damage (decided by position)
                    if isinstance(exc, EndOfFile) or f.pos >= self.size:
                        self.truncated, self.truncated_at = True, f.pos
                        return
                    raise RecordingError(f"{self.path}: damaged at or after byte {f.pos} of {self.size} "
                                         f"({type(exc).__name__}: {exc}); it is not a readable MCAP file") from None
                yield record
                if stop_at_first_message and isinstance(record, Message):
                    return

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[RawMessage]:
        """Every message in file order (the order it was written), with its channel and schema."""
        wanted = None if topics is None else set(topics)
        schemas: dict[int, Schema] = {}
        channels: dict[int, Channel] = {}
        for record in self._records():
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message):
                channel = channels.get(record.channel_id)
                if channel is None:
                    raise RecordingError(f"{self.path}: message on unknown channel {record.channel_id}")
                if wanted is None or channel.topic in wanted:
                    yield RawMessage(channel, schemas.get(channel.schema_id), record)
            elif isinstance(record, Metadata) and record.name == META_SUMMARY:
                self.summary_metadata = dict(record.metadata)

    # ---- decoded packets -----------------------------------------------------------------------------------------
    def streams(self) -> list[str]:
        """The recorded streams, from the run metadata."""
        try:
            return list(json.loads(self.run_metadata.get("streams", "[]")))
        except ValueError:
            raise RecordingError(f"{self.path}: its 'graphflow' metadata has no valid stream list") from None

    def _require_graphflow(self) -> None:
        if not self.is_graphflow and not (self.truncated and not self.profile):  # cut inside the header: empty
            raise RecordingError(f"{self.path}: not a graphflow recording (MCAP profile {self.profile!r}, "
                                 f"library {self.library!r}); `graphflow info` lists its channels")

    def packets(self, streams: Iterable[str] | None = None, *, bounds: bool = True) -> Iterator[RecordedPacket]:
        """Decoded packets (and, with ``bounds``, bound advances) of ``streams`` (default all), in recorded order."""
        self._require_graphflow()
        wanted = None if streams is None else set(streams)
        if wanted is not None:
            missing = sorted(wanted - set(self.streams()))
            if missing:
                raise RecordingError(f"{self.path}: stream(s) {', '.join(missing)} not recorded "
                                     f"(recorded: {', '.join(self.streams())})")
        decoders: dict[int, StreamEncoder] = {}
        for m in self.messages():
            meta = m.channel.metadata
            stream, kind = meta.get("graphflow.stream"), meta.get("graphflow.kind")
            if stream is None or kind == KIND_ANNOTATIONS or (wanted is not None and stream not in wanted):
                continue
            if kind == KIND_BOUNDS and not bounds:
                continue
            dec = decoders.get(m.channel.id)
            if dec is None:
                schema_name = m.schema.name if m.schema is not None else ""
                dec = encoders.encoder_for_schema(schema_name)
                if dec is None:
                    raise RecordingError(f"{self.path}: channel '{m.channel.topic}' has schema {schema_name!r}, "
                                         "which no registered encoding reads (import calculators.record?)")
                decoders[m.channel.id] = dec
            msg = m.message
            try:
                body = codec.loads(msg.data)
                if not isinstance(body, dict):
                    raise codec.DecodingError("message is not a JSON object")
                ts = body.get(TIMESTAMP_KEY, msg.log_time // 1000)
                payload = dec.decode(body)
            except codec.DecodingError as exc:
                raise RecordingError(f"{self.path}: message {msg.sequence} of '{m.channel.topic}' at "
                                     f"{msg.log_time} ns cannot be decoded: {exc}") from None
            if kind == KIND_BOUNDS:
                yield RecordedPacket(stream, kind, payload, None, msg.sequence, msg.publish_time, msg.data)
            elif kind == KIND_PACKETS:
                yield RecordedPacket(stream, kind, ts, payload, msg.sequence, msg.publish_time, msg.data)

    def __iter__(self) -> Iterator[RecordedPacket]:
        return self.packets()

    # ---- summary -------------------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Channels (topic, schema, encoding, messages, bytes), time range, sizes, metadata; one pass."""
        channels: dict[str, dict[str, Any]] = {}
        start = end = None
        count = 0
        for m in self.messages():
            msg = m.message
            c = channels.setdefault(m.channel.topic, {
                "schema": m.schema.name if m.schema else "", "message_encoding": m.channel.message_encoding,
                "kind": m.channel.metadata.get("graphflow.kind", ""), "messages": 0, "bytes": 0,
                "first_log_time_ns": msg.log_time, "last_log_time_ns": msg.log_time, "sequence_gaps": 0,
                "_last_seq": None})
            if c["_last_seq"] is not None and msg.sequence > c["_last_seq"] + 1:
                c["sequence_gaps"] += msg.sequence - c["_last_seq"] - 1
            c["_last_seq"] = msg.sequence
            c["messages"] += 1
            c["bytes"] += len(msg.data)
            c["first_log_time_ns"] = min(c["first_log_time_ns"], msg.log_time)
            c["last_log_time_ns"] = max(c["last_log_time_ns"], msg.log_time)
            if c["kind"] != KIND_BOUNDS:
                start = msg.log_time if start is None else min(start, msg.log_time)
                end = msg.log_time if end is None else max(end, msg.log_time)
            count += 1
        for c in channels.values():
            del c["_last_seq"]
        duration = 0.0 if start is None or end is None else (end - start) / 1e9
        return {"path": str(self.path), "file_bytes": self.size, "profile": self.profile, "library": self.library,
                "truncated": self.truncated, "truncated_at": self.truncated_at, "messages": count,
                "start_ns": start, "end_ns": end, "duration_s": duration,
                "bytes_per_minute": (self.size * 60 / duration) if duration > 0 else None,
                "channels": channels, "metadata": self.run_metadata, "summary": self.summary_metadata}


def packets(path: str | Path, streams: Iterable[str] | None = None) -> Iterator[RecordedPacket]:
    """Shorthand: ``Recording(path).packets(streams)``."""
    return Recording(path).packets(streams)

