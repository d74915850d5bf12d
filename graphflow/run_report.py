"""What ``graphflow run`` reports when a run ends: the stats table, the stats JSON file, where the trace went.

One place for both ways a run goes (an engine-only graph, and ``calculators.io.app.run_app`` on media), so
``--stats``, ``--stats-json`` and ``--trace`` mean the same on every path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from .stats import table


def write_run_reports(stats: dict[str, Any], *, print_table: bool = False, stats_json: str | Path | None = None,
                      trace: str | Path | None = None, out: IO[str] | None = None,
                      err: IO[str] | None = None) -> None:
    """Print the per-node table on ``out`` (stdout), write ``stats_json``, say on ``err`` (stderr) where the
    trace is (the graph writes it when it finishes)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if print_table:
        out.write(table(stats) + "\n")
        out.flush()
    if stats_json:
        path = Path(stats_json)
        path.write_text(json.dumps(stats, indent=2, default=str) + "\n")
        err.write(f"stats written to {path}\n")
    if trace:
        path = Path(trace)
        if path.exists():
            err.write(f"trace written to {path} (open in ui.perfetto.dev)\n")
        else:
            err.write(f"graphflow: no trace at {path}: the graph did not finish cleanly\n")
    err.flush()
