"""The README's record/replay snippet runs as written (on a few frames of the shared test video)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calculators.io.frame_reader import FrameReader

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"


def test_readme_record_replay_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (snippet,) = [b for b in blocks if "Recorder(" in b]
    monkeypatch.chdir(tmp_path)
    code = snippet.replace('"graphs/hand_tracking.yaml"', f'"{ROOT / "graphs" / "hand_tracking.yaml"}"')
    frames = [(f.timestamp, f.image) for f in FrameReader(str(VIDEO), max_frames=4, width=320, height=240)]
    exec(compile(code, "README.md", "exec"), {"frames": frames})
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == [str(t) for t, _ in frames]
    assert all(line.endswith("hands") for line in printed) and (tmp_path / "run.mcap").is_file()
