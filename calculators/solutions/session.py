"""``GraphSession``: the one started graph behind a facade (``Hands``, ``ClassActivation``, ``InstanceSegmenter``).

The rules every facade follows, kept here once:

- **thread safety**: ``call`` holds a lock, so ``process()`` may be called from several threads; the calls run one
  at a time through the one graph and every caller gets the answer to its own request (never another thread's);
- **a failure does not break the facade**: when a call raises (a node failed, a timeout, Ctrl-C), the graph is
  cancelled and a fresh one is built for the next call; the caller sees the original error, not a later
  "add_packet() after close()";
- **no leak when dropped**: a ``weakref.finalize`` cancels the graph (its worker threads end, its models can be
  freed) when the facade is garbage-collected without ``close()``. ``build`` must therefore not hold the facade
  itself (only its settings), or the facade would never be collected.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from graphflow import Graph
from graphflow.errors import GraphflowError

T = TypeVar("T")  # what ``build`` hands to each call besides the graph (pollers, stores)
R = TypeVar("R")

CANCEL_TIMEOUT_S = 5.0


class RequestError(ValueError):
    """A bad request that ``fn`` rejects before touching the graph: re-raised as is, the graph is kept."""


def _cancel(graph: Graph) -> None:
    try:
        graph.cancel(timeout=CANCEL_TIMEOUT_S)
    except GraphflowError:
        pass  # it failed already: the caller saw (or will never ask for) that error


class GraphSession(Generic[T]):
    """``build()`` -> (started graph, its outputs); ``call(fn)`` runs ``fn(graph, outputs)`` under the lock."""

    def __init__(self, owner: object, name: str, build: Callable[[], tuple[Graph, T]]) -> None:
        self._owner = weakref.ref(owner)
        self._name = name
        self._build = build
        self._lock = threading.RLock()
        self._graph: Graph | None = None
        self._outputs: T | None = None
        self._finalizer: weakref.finalize | None = None
        self._broken: str = ""  # why a rebuild after an error failed (then every call says so)
        self._open()

    def _open(self) -> None:
        graph, outputs = self._build()
        owner = self._owner()
        self._graph, self._outputs = graph, outputs
        if owner is not None:
            self._finalizer = weakref.finalize(owner, _cancel, graph)

    def _discard(self) -> Graph | None:
        graph, self._graph, self._outputs = self._graph, None, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        return graph

    @property
    def closed(self) -> bool:
        return self._graph is None

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            raise RuntimeError(f"{self._name} is closed")
        return self._graph

    def call(self, fn: Callable[[Graph, T], R], verb: str = "process") -> R:
        """Run one request; on any exception the graph is replaced by a fresh one and the exception re-raised."""
        with self._lock:
            if self._graph is None:
                if self._broken:
                    raise RuntimeError(f"{self._name} could not restart after an earlier error: {self._broken}")
                raise RuntimeError(f"{self._name}.{verb}() after close()")
            graph, outputs = self._graph, self._outputs
            try:
                return fn(graph, outputs)  # type: ignore[arg-type]
            except RequestError:
                raise
            except BaseException:
                self._discard()
                _cancel(graph)
                try:
                    self._open()  # the next call gets a working graph
                except Exception as exc:  # noqa: BLE001 - the original error is the one to raise now
                    self._broken = f"{type(exc).__name__}: {exc}"
                raise

    def reopen(self) -> None:
        """Replace the graph by a fresh one (e.g. ``Hands.reset``)."""
        with self._lock:
            graph = self._discard()
            if graph is not None:
                graph.close()
            self._open()

    def close(self, *, quiet: bool = False) -> None:
        """Finish the graph (idempotent). ``quiet``: swallow its error (an exception is already propagating)."""
        with self._lock:
            graph = self._discard()
        if graph is None:
            return
        try:
            graph.close(timeout=60.0)
        except GraphflowError:
            _cancel(graph)
            if not quiet:
                raise

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self.graph.stats()
