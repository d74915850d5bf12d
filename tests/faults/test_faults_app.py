"""run_app and the file sinks when the machine misbehaves: a full disk (a real 256 KiB tmpfs), a display backend
that raises. Each failure must be an error naming the file and the cause, leave no thread behind, never replace an
existing file with a broken one, and leave no temporary file."""

from __future__ import annotations

import io
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_no_graphflow_threads

from calculators.io.app import run_app
from calculators.io.output_file import temp_path
from calculators.types import Classification
from graphflow import Graph, GraphError

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
TMPFS_SIZE = "256k"

APP_GRAPH = """
# An app graph (graph input 'image') that forwards each frame: the renderer draws it, the sinks write it.
input_streams: [image]
output_streams: [slow]
nodes:
  # Why: the cheapest image node there is (no delay), so the test spends its time writing.
  - calculator: FaultSlowImage
    inputs: {IMAGE: image}
    outputs: {IMAGE_OUT: slow}
    options: {delay: 0.0}
"""

JSONL_GRAPH = """
# Results fed by the test straight into a JsonlSink.
input_streams: [classes]
nodes:
  # Why: the sink under test.
  - calculator: JsonlSink
    inputs: {CLASSES: classes}
    options: {path: PATH, flush_every: 1}
"""


@pytest.fixture
def full_disk(tmp_path: Path):
    """A directory on a 256 KiB tmpfs (``mount -t tmpfs``, needs root / CAP_SYS_ADMIN). Yields (dir, how)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        warnings.warn(f"cannot mount a tmpfs ({proc.stderr.strip()}): the disk-full tests use /dev/full instead",
                      stacklevel=1)
        yield mount_point, "dev-full"
        return
    try:
        yield mount_point, "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_through_dev_full(target: Path) -> None:
    """Fallback when no tmpfs can be mounted: the sink's temporary file is a link to /dev/full (real ENOSPC)."""
    temp_path(target).symlink_to("/dev/full")


def test_a_full_disk_fails_the_video_with_the_file_and_the_cause(tmp_path, full_disk):
    folder, how = full_disk
    video = folder / "out.mp4"
    if how == "dev-full":
        fill_through_dev_full(video)
    (tmp_path / "app.yaml").write_text(APP_GRAPH)
    stream = io.StringIO()
    rc = run_app(tmp_path / "app.yaml", input=str(VIDEO), output=str(video), progress=False, stream=stream)
    text = stream.getvalue()
    assert rc == 1, text
    assert str(video) in text and ("no space left on device" in text or how == "dev-full"), text
    assert not video.exists()  # nothing unplayable was put in place
    assert [p.name for p in folder.iterdir() if "partial" in p.name and not p.is_symlink()] == []
    assert wait_no_graphflow_threads() == []


def test_a_full_disk_does_not_replace_an_existing_video(tmp_path, full_disk):
    folder, how = full_disk
    video = folder / "out.mp4"
    video.write_bytes(b"the previous run's video")
    if how == "dev-full":
        fill_through_dev_full(video)
    (tmp_path / "app.yaml").write_text(APP_GRAPH)
    stream = io.StringIO()
    assert run_app(tmp_path / "app.yaml", input=str(VIDEO), output=str(video), progress=False, stream=stream) == 1
    assert video.read_bytes() == b"the previous run's video"


def test_a_full_disk_fails_the_image_folder_with_the_file_and_the_cause(tmp_path, full_disk):
    folder, how = full_disk
    if how == "dev-full":
        pytest.skip("ImageFolderSink writes one new file per frame: only a real small file system fills up")
    (tmp_path / "app.yaml").write_text(APP_GRAPH)
    stream = io.StringIO()
    rc = run_app(tmp_path / "app.yaml", input=str(VIDEO), images_dir=str(folder / "frames"), progress=False,
                 stream=stream)
    text = stream.getvalue()
    assert rc == 1 and "no space left on device" in text and str(folder / "frames") in text, text
    assert "unknown image extension" not in text


def test_a_full_disk_fails_the_jsonl_sink_with_the_file_and_the_cause(full_disk):
    folder, how = full_disk
    target = folder / "results.jsonl"
    if how == "dev-full":
        fill_through_dev_full(target)
    graph = Graph.from_yaml(JSONL_GRAPH.replace("PATH", str(target)))
    graph.start()
    big = [Classification(i, "x" * 200, 0.5) for i in range(20)]  # about 5 kB a line: 256 KiB in ~50 lines
    with pytest.raises(GraphError) as info:
        for ts in range(2000):
            graph.add_packet("classes", big, ts)
        graph.close()
    graph.cancel()
    message = f"{info.value} {info.value.__cause__}"
    assert f"cannot write '{target}': no space left on device" in message, message
    assert not target.exists()
    assert wait_no_graphflow_threads() == []


class RaisingDisplay:
    """A display backend whose window dies after a few frames (e.g. the X server went away)."""

    def __init__(self) -> None:
        self.shown = 0

    def show(self, window: str, image: np.ndarray) -> None:
        self.shown += 1
        if self.shown >= 3:
            raise RuntimeError("lost the connection to the display")

    def poll_key(self, delay_ms: int) -> int:
        return -1

    def close(self) -> None:
        pass


def test_a_display_error_cancels_the_run_and_returns_1_without_leaving_threads(tmp_path):
    (tmp_path / "app.yaml").write_text(APP_GRAPH)
    video = tmp_path / "out.mp4"
    stream = io.StringIO()
    rc = run_app(tmp_path / "app.yaml", input=str(VIDEO), output=str(video), show=True,
                 display=RaisingDisplay(), loop=True, realtime=True, progress=False, stream=stream)
    text = stream.getvalue()
    assert rc == 1 and "the display failed: RuntimeError: lost the connection to the display" in text, text
    assert wait_no_graphflow_threads() == []
    assert video.exists()  # the outputs were still finalised
    assert "Traceback" not in text
