"""The live view in a real browser: headless Chromium (Debian's package) driven through chromedriver (DevTools).

``graphflow run graphs/hand_tracking.yaml --input VIDEO --loop --serve 127.0.0.1:0`` runs in a subprocess; the
page must load, show a picture that changes, stats that update, the graph's nodes and subgraph clusters; a stalled
MJPEG reader and a browser closing mid-stream must leave the graph running; the trace button downloads a
Perfetto trace of the next second. ``.ci/run`` installs chromium and
chromium-driver; without them this test fails and says so (it never skips).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from io_reference import VIDEO

from graphflow.graph import Graph

REPO = Path(__file__).resolve().parents[2]
HAND_GRAPH = REPO / "graphs" / "hand_tracking.yaml"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver (what .ci/run does)"
URL_LINE = re.compile(r"live view at (http://\S+)")


def _browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(Path(path).name)):
            pytest.fail(f"headless Chromium is needed for the live view test and {path} is missing: {INSTALL}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f"selenium is missing ({exc}): pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1100"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stats(url: str) -> dict:
    with urllib.request.urlopen(url + "api/stats", timeout=10) as r:
        return json.load(r)


def _number(driver, css: str) -> int:
    """The integer an element of the page shows now, -1 while there is none (one script call, so atomic)."""
    text = driver.execute_script("const el = document.querySelector(arguments[0]); return el && el.textContent;",
                                 css)
    return int(text) if text and text.strip().isdigit() else -1


def _png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(np.float32)


def test_live_view_in_headless_chromium(tmp_path):
    cmd = [sys.executable, "-m", "graphflow.cli", "run", str(HAND_GRAPH), "--input", str(VIDEO), "--loop",
           "--serve", "127.0.0.1:0", "-O", "model_complexity=0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    driver = None
    try:
        def url_printed():
            assert proc.poll() is None, f"graphflow run exited with {proc.returncode}"
            try:
                m = URL_LINE.search(lines.get(timeout=0.1))
            except queue.Empty:
                return None
            return m.group(1) if m else None

        url = _wait(url_printed, 60, "the live view URL on stderr")
        driver = _browser()
        driver.get(url)
        from selenium.webdriver.common.by import By

        frame = driver.find_element(By.ID, "frame")
        seq = lambda: int(frame.get_attribute("data-seq") or -1)  # noqa: E731
        _wait(lambda: seq() >= 1, 60, "the first frame on the page")
        first_seq, shot1 = seq(), frame.screenshot_as_png
        _wait(lambda: seq() >= first_seq + 5, 30, "five newer frames")
        shot2 = frame.screenshot_as_png
        a, b = _png(shot1), _png(shot2)
        assert a.shape == b.shape and a.shape[0] > 100 and a.shape[1] > 100  # a picture, not a broken image icon
        assert float(np.abs(a - b).mean()) > 1.0, "the picture did not change between two screenshots"

        # stats update: the tick counter and the source's call count both move (read in one script call: the
        # page replaces the table's rows on every tick, so an element found first may be gone when read)
        tick = lambda: _number(driver, "#stats-tick")  # noqa: E731
        calls = lambda: _number(driver, '#stats tr[data-node="source"] td:nth-child(4)')  # noqa: E731
        _wait(lambda: tick() >= 0 and calls() >= 0, 10, "the stats table")
        t0, c0 = tick(), calls()
        _wait(lambda: tick() >= t0 + 2 and calls() > c0, 10, "the stats table to update")

        # topology: every node of the running graph is drawn, the subgraphs are clusters, edges carry counts
        app = Graph.from_yaml(HAND_GRAPH, model_complexity=0)
        expected = {"source", "renderer"} | {f"app/{n.name}" for n in app.validated.nodes}
        drawn = {el.get_attribute("data-node") for el in driver.find_elements(By.CSS_SELECTOR, "g.gnode")}
        assert expected <= drawn, expected - drawn
        clusters = {el.get_attribute("data-group") for el in driver.find_elements(By.CSS_SELECTOR, "g.cluster")}
        assert {"app", "app/palm_detection", "app/hand_landmark"} <= clusters
        counts = [el.text for el in driver.find_elements(By.CSS_SELECTOR, 'g.edge[data-stream="gf_frames"] text')]
        assert counts and all(c.split()[0].isdigit() and int(c.split()[0]) > 0 for c in counts), counts

        # the trace button: records one second and the browser downloads it
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        from selenium.webdriver.support.select import Select

        Select(driver.find_element(By.ID, "trace-seconds")).select_by_value("1")
        driver.find_element(By.ID, "trace").click()
        status = _wait(lambda: driver.find_element(By.ID, "trace-status").text.startswith("saved")
                       and driver.find_element(By.ID, "trace-status").text, 30, "the trace download")
        saved = _wait(lambda: [p for p in downloads.glob("graphflow-trace-*.json")], 10, "the trace file")
        assert saved[0].name in status
        spans = {e["name"] for e in json.loads(saved[0].read_text())["traceEvents"] if e.get("ph") == "X"}
        assert {"source", "renderer", "app/tracked_landmark/hand_model"} <= spans  # the tracked hands pass

        # a second viewer that never reads (a paused browser), then the first browser closes mid-stream
        stalled = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        driver.quit()
        driver = None
        before = _stats(url)["nodes"]["renderer"]["process_calls"]
        _wait(lambda: _stats(url)["nodes"]["renderer"]["process_calls"] >= before + 10, 30,
              "the graph to keep rendering after the browser closed (with a stalled viewer connected)")
        assert proc.poll() is None, "graphflow run stopped when the browser went away"
        stalled.close()
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
