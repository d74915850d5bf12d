"""The live view's server over real HTTP (no browser): frames, stats, topology, the security rules, run_app(serve=)."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from io_reference import VIDEO

from calculators.io.app import run_app
from calculators.io.frame_reader import FrameReader
from calculators.io.live_view import FrameTap, encode_jpeg, start_live_view
from graphflow.graph import Graph
from graphflow.serve import LiveServer, ServeError, parse_address, topology

PASS_GRAPH = ("input_streams: [image]\noutput_streams: [same]\nnodes:\n"
              "  - {name: relay, calculator: PassThrough, inputs: {IN: image}, outputs: {OUT: same}}\n")


def _get(url: str, headers: dict | None = None, method: str = "GET"):
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _first_frame(url: str, timeout: float = 60.0):
    """GET /api/frame until the run's first frame is there (models load after the URL is printed)."""
    deadline = time.monotonic() + timeout
    while True:
        status, headers, body = _get(url + "api/frame?after=-1")
        if status != 204 or time.monotonic() > deadline:
            return status, headers, body


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not reached within {timeout} s"
        time.sleep(0.05)


def _frames(n: int) -> list[np.ndarray]:
    return [f.image for f in FrameReader(str(VIDEO), max_frames=n)]


@pytest.fixture
def served():
    """A running pass-through graph with the live view on an ephemeral loopback port."""
    graph = Graph.from_yaml(PASS_GRAPH)
    out = io.StringIO()
    server = start_live_view(graph, "127.0.0.1:0", stream="same", title="pass", out=out)
    graph.start()
    yield graph, server, out
    server.close()
    graph.close_all_inputs()
    graph.close()


def test_encode_jpeg_round_trips_rgb():
    image = _frames(1)[0]
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(encode_jpeg(image), np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)
    assert decoded.shape == image.shape
    assert float(np.abs(decoded.astype(np.float32) - image).mean()) < 4.0  # JPEG q80 of the same picture


def test_frames_are_encoded_once_per_frame_and_only_when_asked(served):
    graph, server, out = served
    frames = _frames(3)
    assert out.getvalue() == f"graphflow: live view at {server.url}\n" and server.url.startswith("http://127.")
    graph.add_packet("image", frames[0], 0)
    graph.wait_until_idle()
    tap: FrameTap = server.frames
    assert tap.seq == 1 and tap._encoded is None  # no viewer yet: nothing was encoded
    status, headers, body = _get(server.url + "api/frame?after=-1")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and headers["X-Frame-Seq"] == "1"
    assert body == encode_jpeg(frames[0])
    # two viewers waiting for the next frame get the same bytes from one encoding
    results = []
    viewers = [threading.Thread(target=lambda: results.append(_get(server.url + "api/frame?after=1")))
               for _ in range(2)]
    for v in viewers:
        v.start()
    time.sleep(0.2)
    graph.add_packet("image", frames[1], 40_000)
    for v in viewers:
        v.join(10)
    assert [r[0] for r in results] == [200, 200] and results[0][2] == results[1][2] == encode_jpeg(frames[1])
    assert results[0][1]["X-Frame-Timestamp"] == "40000"
    # nothing newer within the long-poll window: 204, the page simply asks again
    status, _, body = _get(server.url + "api/frame?after=2")
    assert status == 204 and body == b""


def test_stats_and_topology_endpoints(served):
    graph, server, _ = served
    for i, frame in enumerate(_frames(4)):
        graph.add_packet("image", frame, i * 40_000)
    graph.wait_until_idle()
    status, _, body = _get(server.url + "api/stats")
    stats = json.loads(body)
    assert status == 200 and stats["nodes"]["relay"]["process_calls"] == 4 and stats["streams"]["same"]["packets"] == 4
    assert "rates" in stats and stats["clients"] == 0
    status, _, body = _get(server.url + "api/topology")
    topo = json.loads(body)
    assert {n["id"] for n in topo["nodes"]} == {"in:image", "relay", "out:same"} and topo["title"] == "pass"
    assert {(e["source"], e["target"]) for e in topo["edges"]} == {("in:image", "relay"), ("relay", "out:same")}
    status, headers, body = _get(server.url)
    assert status == 200 and b"/static/live.js" in body and headers["Content-Type"].startswith("text/html")
    for asset in ("live.js", "live.css", "dagre.min.js"):
        assert _get(server.url + "static/" + asset)[0] == 200


def test_nothing_outside_the_page_is_served_and_nothing_changes_the_graph(served):
    graph, server, _ = served
    assert _get(server.url + "static/..%2F..%2Fserver.py")[0] == 404
    assert _get(server.url + "static/index.html.bak")[0] == 404
    assert _get(server.url + "api/stats", {"Host": "attacker.example:80"})[0] == 403  # DNS rebinding
    assert _get(server.url + "api/stats", {"Host": "localhost:9999"})[0] == 200  # an SSH tunnel's local port
    assert _get(server.url + "api/stats", {"Host": "[::1]:9999"})[0] == 200
    assert _get(server.url + "api/stats", {"Host": "localhost.attacker.example"})[0] == 403
    assert _get(server.url + "api/trace", method="POST")[0] == 403  # a cross-site form cannot add the header
    for path in ("api/stats", "api/topology", "api/frame"):
        assert _get(server.url + path, method="POST")[0] == 405
    assert _get(server.url + "api/frame?after=x")[0] == 400


def test_other_interfaces_warn_and_a_busy_port_is_one_clear_error():
    assert parse_address("8000").host == "127.0.0.1" and parse_address(":0").port == 0
    assert parse_address("[::1]:81").host == "::1"
    graph = Graph.from_yaml(PASS_GRAPH)
    out = io.StringIO()
    with LiveServer(graph, parse_address("0.0.0.0:0"), out=out) as server:
        assert "WARNING" in out.getvalue() and "ssh -L" in out.getvalue()
        busy = parse_address(f"0.0.0.0:{server.port}")
        with pytest.raises(ServeError, match="cannot listen there"):
            LiveServer(graph, busy, out=io.StringIO()).start()


def test_topology_groups_nest_like_the_subgraphs():
    from pathlib import Path

    app = Graph.from_yaml(Path(__file__).resolve().parents[2] / "graphs" / "hand_tracking.yaml")
    topo = topology(app.validated)
    groups = {g["id"]: g["parent"] for g in topo["groups"]}
    assert groups == {"palm_detection": None, "tracked_landmark": None, "hand_landmark": None}
    members = {n["id"] for n in topo["nodes"] if n["group"] == "palm_detection"}
    assert members == {n.name for n in app.validated.nodes if n.name.startswith("palm_detection/")}


def test_run_app_serve_shows_the_rendered_frames(tmp_path):
    graph = tmp_path / "pass.yaml"
    graph.write_text(PASS_GRAPH)
    stream = io.StringIO()
    result = []
    runner = threading.Thread(target=lambda: result.append(run_app(
        graph, input=str(VIDEO), loop=True, serve="127.0.0.1:0", timeout=4.0, progress=False, stream=stream)))
    runner.start()
    deadline = time.monotonic() + 30
    while not (m := re.search(r"live view at (\S+)", stream.getvalue())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert m, stream.getvalue()
    url = m.group(1)
    status, headers, body = _first_frame(url)
    assert status == 200 and cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)
    topo = json.loads(_get(url + "api/topology")[2])
    assert topo["stream"] == "gf_rendered" and {"source", "renderer", "app/relay"} <= {n["id"] for n in topo["nodes"]}
    runner.join(30)
    assert result == [1]  # the timeout ended the endless loop
    with pytest.raises(OSError):  # and the server went with the run
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))), timeout=2).close()


def test_live_demo_without_a_gui_serves_the_page_and_prints_the_url(monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "demos" / "hand_tracking_live.py"
    spec = importlib.util.spec_from_file_location("demo_hand_tracking_live", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setattr(demo, "highgui_available", lambda: False)  # as with opencv-python-headless, on any box
    result = []
    runner = threading.Thread(target=lambda: result.append(demo.main(
        ["--input", str(VIDEO), "--serve", "127.0.0.1:0", "--model-complexity", "0", "--max-frames", "40"])))
    runner.start()
    seen = ""
    deadline = time.monotonic() + 60
    while not (m := re.search(r"live view at (\S+)", seen)) and time.monotonic() < deadline:
        seen += capsys.readouterr().err
        time.sleep(0.05)
    try:
        assert m, seen
        assert "no GUI" in seen and "browser" in seen
        status, _, body = _first_frame(m.group(1))
        assert status == 200 and body[:2] == b"\xff\xd8"  # a JPEG
    finally:
        runner.join(60)
    assert result == [0]


def test_trace_endpoint_records_the_next_seconds_and_one_at_a_time(served):
    graph, server, _ = served
    frames = _frames(2)
    feeding = threading.Event()

    def feed():
        ts = 0
        while not feeding.is_set():
            graph.add_packet("image", frames[ts % 2], ts * 40_000)
            ts += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        results = {}
        first = threading.Thread(target=lambda: results.setdefault("first", _get(
            server.url + "api/trace?seconds=1", {"X-Requested-By": "graphflow"}, method="POST")))
        first.start()
        time.sleep(0.3)
        second = _get(server.url + "api/trace?seconds=1", {"X-Requested-By": "graphflow"}, method="POST")
        first.join(15)
    finally:
        feeding.set()
        feeder.join(10)
    assert second[0] == 409 and b"already being recorded" in second[2]
    status, headers, body = results["first"]
    assert status == 200 and re.match(r'attachment; filename="graphflow-trace-\d{8}-\d{6}\.json"',
                                      headers["Content-Disposition"])
    events = json.loads(body)["traceEvents"]
    relay = [e for e in events if e.get("ph") == "X" and e["name"] == "relay"]
    assert 20 <= len(relay) <= 80  # one span per packet of that second (a packet every ~20 ms), not the whole run


def _feed(graph, frames, stop: threading.Event, period_s: float = 0.01) -> threading.Thread:
    """Feed ``frames`` round robin to the pass-through graph until ``stop`` (a graph faster than the cap)."""

    def run():
        i = 0
        while not stop.is_set():
            graph.add_packet("image", frames[i % len(frames)], i * 10_000)
            i += 1
            time.sleep(period_s)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_serve_fps_caps_the_encodings_for_all_viewers_together():
    graph = Graph.from_yaml(PASS_GRAPH)
    server = start_live_view(graph, "127.0.0.1:0", stream="same", out=io.StringIO(), fps=4)
    tap: FrameTap = server.frames
    graph.start()
    stop, seen = threading.Event(), {0: [], 1: []}

    def viewer(k: int) -> None:  # what the page does: ask for a frame newer than the last one shown, again
        seq = -1
        while not stop.is_set():
            status, headers, _ = _get(server.url + f"api/frame?after={seq}")
            if status == 200:
                seq = int(headers["X-Frame-Seq"])
                seen[k].append(seq)

    feeder = _feed(graph, _frames(2), stop)
    _first_frame(server.url)
    t0 = time.monotonic()
    encodes0 = tap.encodes
    viewers = [threading.Thread(target=viewer, args=(k,)) for k in (0, 1)]
    for v in viewers:
        v.start()
    try:
        _wait_for(lambda: tap.seq >= 60 and all(len(s) >= 3 for s in seen.values()), 30)
    finally:
        stop.set()
        for t in (*viewers, feeder):
            t.join(10)
        elapsed = time.monotonic() - t0
        server.close()
        graph.close_all_inputs()
        graph.close()
    # never more than one encoding per 1/4 s slot, however many viewers ask (plus the slot in progress)
    assert tap.encodes - encodes0 <= elapsed * 4 + 1, (tap.encodes - encodes0, elapsed)
    assert tap.seq > 2 * tap.encodes  # the graph made frames much faster than they were encoded
    for frames_seen in seen.values():  # each viewer only ever moves forward, and never gets a frame twice
        assert frames_seen == sorted(set(frames_seen))


def test_serve_fps_0_encodes_every_frame_a_viewer_asks_for():
    graph = Graph.from_yaml(PASS_GRAPH)
    with LiveServer(graph, parse_address("127.0.0.1:0"), frames=FrameTap(), out=io.StringIO(), fps=0) as server:
        graph.observe("same", server.frames)
        graph.start()
        frames = _frames(3)
        for i, frame in enumerate(frames):
            graph.add_packet("image", frame, i * 40_000)
            graph.wait_until_idle()
            status, headers, body = _get(server.url + f"api/frame?after={i}")  # right after the previous one
            assert status == 200 and headers["X-Frame-Seq"] == str(i + 1) and body == encode_jpeg(frame)
        assert server.frames.encodes == 3
        graph.close_all_inputs()
    graph.close()
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="fps"):
            LiveServer(graph, parse_address("127.0.0.1:0"), fps=bad)


def test_frames_are_still_served_after_a_trace(served):
    graph, server, _ = served
    frames = _frames(2)
    graph.add_packet("image", frames[0], 0)
    graph.wait_until_idle()
    status, _, _ = _get(server.url + "api/trace?seconds=0.2", {"X-Requested-By": "graphflow"}, method="POST")
    assert status == 200
    waiting = []
    viewer = threading.Thread(target=lambda: waiting.append(_get(server.url + "api/frame?after=1")))
    viewer.start()
    time.sleep(0.2)
    graph.add_packet("image", frames[1], 40_000)  # wakes the waiting request (the trace left the wake-up alone)
    viewer.join(10)
    assert waiting[0][0] == 200 and waiting[0][1]["X-Frame-Seq"] == "2"


def test_stats_are_sampled_and_serialised_at_most_twice_a_second_for_all_viewers():
    from graphflow.cli_flags import SERVE_FPS_DEFAULT
    from graphflow.serve import DEFAULT_SERVE_FPS
    from graphflow.serve.snapshot import StatsSampler

    assert SERVE_FPS_DEFAULT == DEFAULT_SERVE_FPS  # the CLI's default is the server's
    now, calls = [100.0], []

    def stats():
        calls.append(now[0])
        return {"nodes": {"a": {"process_calls": 10 * len(calls), "busy_s": 0.1 * len(calls)}},
                "streams": {"s": {"packets": 10 * len(calls)}}}

    sampler = StatsSampler(stats, lambda: {"frames": len(calls)}, clock=lambda: now[0])
    first = sampler.snapshot_json()
    for dt in (0.1, 0.2, 0.49):  # three more browsers within the half second: the same bytes, no stats() call
        now[0] = 100.0 + dt
        assert sampler.snapshot_json() is first
    now[0] = 100.5
    second = json.loads(sampler.snapshot_json())
    assert calls == [100.0, 100.5] and second["app"] == {"frames": 2}
    assert second["rates"]["nodes"]["a"]["calls_per_s"] == pytest.approx(20.0)  # (20 - 10) / 0.5 s
    assert second["rates"]["streams"]["s"] == pytest.approx(20.0)


def test_stats_endpoint_adds_the_viewer_count_to_the_shared_snapshot(served):
    graph, server, _ = served
    body = _get(server.url + "api/stats")[2]
    doc = json.loads(body)
    assert doc["clients"] == 0 and isinstance(doc["time"], float) and "nodes" in doc and "rates" in doc
