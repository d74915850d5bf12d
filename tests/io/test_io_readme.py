"""The README's calculator, graph and run_app snippets work as written (run on the test video)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import torch
from io_reference import VIDEO

from calculators.io.app import run_app

ROOT = Path(__file__).resolve().parents[2]

torch.set_num_threads(1)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_calculator_and_graph_run(tmp_path):
    calculator, runner = [b for b in blocks("python") if "Pinch" in b or "run_app" in b]
    (graph_text,) = [b for b in blocks("yaml") if "Pinch" in b]
    assert len(calculator.strip().splitlines()) <= 30 and len(graph_text.strip().splitlines()) <= 12
    module = types.ModuleType("readme_pinch")  # dataclasses look their class's module up in sys.modules
    sys.modules[module.__name__] = module
    exec(compile(calculator, "README.md", "exec"), module.__dict__)  # registers "Pinch"
    graph = tmp_path / "pinch.yaml"
    graph.write_text(graph_text.replace("graphs/hand_tracking.yaml", str(ROOT / "graphs" / "hand_tracking.yaml")))
    assert 'run_app("pinch.yaml", input="0", show=True' in runner
    pinches: list[bool] = []
    rc = run_app(graph, input=str(VIDEO), max_frames=8, progress=False,
                 observers={"pinch": lambda p: pinches.append(p.payload)})
    assert rc == 0 and len(pinches) == 8 and all(isinstance(v, bool) for v in pinches)


def test_readme_embedding_snippet_runs(monkeypatch, capsys):
    import cv2

    (snippet,) = [b for b in blocks("python") if "with Graph.from_yaml" in b]
    ok, bgr = cv2.VideoCapture(str(VIDEO)).read()
    assert ok
    monkeypatch.chdir(ROOT)
    exec(compile(snippet, "README.md", "exec"), {"rgb_frame": cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "t_us": 0})
    printed = capsys.readouterr().out
    assert "HandLandmarks(" in printed  # the first frame of the test video has one hand
