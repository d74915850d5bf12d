"""The watcher process of ``benchmarks/live_view.py`` (standard library only, so it starts in a few ms and costs
the measured machine only what watching costs): does what the live page does until its stdin closes, then prints
its counts as JSON.

    python benchmarks/live_view_watcher.py URL    # prints "ready" once the server answered, counts at the end
    python benchmarks/live_view_watcher.py URL --toggle   # starts paused; stdin lines "on"/"off" switch it

Like ``live.js``: ask for a frame newer than the last one as soon as the last one arrived (the server paces the
answers, ``--serve-fps``) and for the stats every ``STATS_PERIOD_S``, over kept-alive connections as a browser's
``fetch`` does.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse

STATS_PERIOD_S = 0.5


class _Connection:
    def __init__(self, url: str) -> None:
        self.where = urllib.parse.urlsplit(url)
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[http.client.HTTPResponse, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=5)
        try:
            self.conn.request("GET", path)
            response = self.conn.getresponse()
            return response, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise


def watch(url: str, stop: threading.Event, counts: dict[str, int], active: threading.Event) -> None:
    frames, stats = _Connection(url), _Connection(url)
    seq, next_stats = -1, 0.0
    while not stop.is_set():
        if not active.is_set():  # paused, like a closed tab: no requests at all
            active.wait(0.05)
            continue
        try:
            response, _ = frames.get(f"/api/frame?after={seq}")
            if response.status == 200:
                seq = int(response.headers["X-Frame-Seq"])
                counts["frames"] += 1
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + STATS_PERIOD_S
                stats.get("/api/stats")
                counts["stats"] += 1
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)


def main(url: str, toggle: bool = False) -> None:
    _Connection(url).get("/api/topology")  # the server is up: the page would have loaded
    stop, active = threading.Event(), threading.Event()
    if not toggle:
        active.set()
    counts = {"frames": 0, "stats": 0}
    thread = threading.Thread(target=watch, args=(url, stop, counts, active), daemon=True)
    thread.start()
    print("ready", flush=True)
    for line in sys.stdin:  # until stdin closes
        if line.strip() == "on":
            active.set()
        elif line.strip() == "off":
            active.clear()
    stop.set()
    thread.join(10)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], toggle="--toggle" in sys.argv[2:])
