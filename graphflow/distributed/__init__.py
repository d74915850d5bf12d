"""The Ray executor: each ``group`` of a graph runs as one Ray actor; bridges keep the engine's semantics.

Imported only when a graph asks for ``executor: ray`` (the engine itself never imports Ray)::

    from graphflow.distributed import ray_graph
    graph = ray_graph("graphs/hand_tracking.yaml", address="auto")

Needs the extra: ``pip install -e '.[ray]'``.
"""

from __future__ import annotations

from ..errors import GraphflowError

try:
    import ray  # noqa: F401
except ImportError:  # one line, not a traceback
    raise GraphflowError("executor 'ray' needs Ray, which is not installed: pip install -e '.[ray]'") from None

from .partition import DRIVER, Edge, Part, partition  # noqa: E402
from .ray_graph import RayGraph, live_graphs, merge_stats, ray_graph  # noqa: E402

__all__ = ["DRIVER", "Edge", "Part", "RayGraph", "live_graphs", "merge_stats", "partition", "ray_graph"]

