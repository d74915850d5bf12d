"""``RayGraph``: a graph whose groups run as Ray actors, with the ``Graph`` API the application already uses.

    graph = graphflow.distributed.ray_graph("graphs/hand_tracking.yaml")   # or the YAML's `executor: ray`
    with graph:
        poller = graph.poller("hands")
        graph.start()
        graph.add_packet("image", frame, timestamp=0)

The driver process runs the ungrouped nodes, the graph inputs, pollers and observers; each group is one
long-lived actor (``actor.GroupActor``) created at ``start``. A monitor thread watches every actor: a group that
fails (a raising node, a dead actor) becomes this graph's one ``GraphError`` naming the group, node and timestamp,
and the other parts are cancelled (each opened node gets ``close``) and the actors killed. A group with
``max_restarts`` is reconnected and restarted instead; the packets lost are counted in ``stats()``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError

from ..config import GraphSpec, load_graph
from ..errors import ConfigError, GraphError, GraphflowError, GraphTimeoutError
from ..packet import Packet
from ..poller import OutputPoller
from ..timestamp import DONE_US, Timestamp
from ..validate import ValidatedGraph, validate
from .actor import JOIN_TIMEOUT_S, GroupActor, PartRunner
from .partition import DRIVER, partition

PLACEMENT_TIMEOUT_S = 60.0  # an actor whose resources the cluster lacks never starts: say so instead of hanging
CONNECT_TIMEOUT_S = 5.0
MONITOR_SLICE_S = 0.1
FINISH_SLICE_S = 0.01  # a caller waiting for the graph to finish re-checks for an error this often
BASE_CONCURRENCY = 8  # actor threads for control calls, on top of one per bridge edge


class RemoteError(Exception):
    """The original exception of a node in a group's actor, as text (its traceback is the remote one)."""


def _check_reachable(address: str) -> None:
    """One line instead of Ray retrying for minutes when ``host:port`` does not answer."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # 'auto', 'local' and the like: ray.init knows them
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise GraphflowError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} -> start one with "
                             "`ray start --head` (then use its address), or omit the address to run Ray "
                             "locally") from None


def ensure_ray(address: str | None) -> None:
    """Join the cluster at ``address`` (or RAY_ADDRESS's, or start a local one) unless Ray is up already."""
    if ray.is_initialized():
        return
    if address:
        _check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise GraphflowError(f"cannot start or join Ray (address {address or 'from RAY_ADDRESS, else local'}): "
                             f"{str(exc).splitlines()[0]}") from None


_LIVE: set[RayGraph] = set()  # started and not yet torn down (each holds threads and actors until then)


def live_graphs() -> list[RayGraph]:
    """The graphs of this process that were started and not yet closed/cancelled (each holds threads and
    actors): what a test fixture checks, and cancels, after a test."""
    return list(_LIVE)


class RayGraph:
    def __init__(self, config: GraphSpec | ValidatedGraph, *, address: str | None = None,
                 trace: str | Path | None = None, add_packet_timeout: float | None = 30.0,
                 lossless: bool = False) -> None:
        self.validated = config if isinstance(config, ValidatedGraph) else validate(config)
        self.spec = self.validated.spec
        if address is None and self.spec.executor is not None:
            address = self.spec.executor.address
        self.address = address
        self.add_packet_timeout = add_packet_timeout
        self.trace = trace
        self.lossless = lossless
        self.parts = partition(self.validated, lossless)
        self.driver = PartRunner(self.parts[DRIVER], lossless)
        self.groups = {name: part for name, part in self.parts.items() if name != DRIVER}
        self.actors: dict[str, Any] = {}
        self.restarts: dict[str, int] = {name: 0 for name in self.groups}
        self._side: dict[str, Any] = {}
        self._error: GraphError | None = None
        self._state = "new"
        self._lock = threading.Lock()
        self._monitor: threading.Thread | None = None
        self._user_inputs = [n for n, _ in self.spec.input_streams]
        self._closed_inputs: set[str] = set()

    @classmethod
    def from_yaml(cls, source: str | Path | dict[str, Any], *, address: str | None = None,
                  trace: str | Path | None = None, allow_imports: tuple[str, ...] | list[str] = (),
                  add_packet_timeout: float | None = 30.0, lossless: bool = False, **options: Any) -> RayGraph:
        return cls(load_graph(source, options, allow_imports), address=address, trace=trace,
                   add_packet_timeout=add_packet_timeout, lossless=lossless)

    def __repr__(self) -> str:
        return (f"<RayGraph {Path(self.spec.source).name} groups={','.join(self.groups) or '-'} "
                f"nodes={len(self.validated.nodes)} state={self._state}>")

    # ---- wiring ----------------------------------------------------------------------------------------------
    def _driver_stream(self, stream: str, verb: str) -> None:
        if stream in self.driver.graph.stream_names() or stream not in self.validated.producers:
            return  # the driver's graph raises its own error for an unknown stream
        group = self.validated.node(self.validated.producers[stream][0]).spec.group
        raise KeyError(f"{verb}: stream '{stream}' lives in group '{group}' of {self.spec.source}; list it under "
                       "output_streams to bring it to the driver")

    def observe(self, stream: str, callback: Callable[[Packet], None], **kwargs: Any) -> None:
        self._driver_stream(stream, "observe")
        self.driver.graph.observe(stream, callback, **kwargs)

    def poller(self, stream: str, max_queue: int = 0) -> OutputPoller:
        self._driver_stream(stream, "poller")
        return self.driver.graph.poller(stream, max_queue)

    # ---- running ---------------------------------------------------------------------------------------------
    def start(self, side_packets: dict[str, Any] | None = None) -> RayGraph:
        if self._state != "new":
            raise RuntimeError(f"{self!r}: start() can be called once; build a new graph to run again")
        self._state = "running"
        _LIVE.add(self)
        self._side = dict(side_packets or {})
        try:
            ensure_ray(self.address)
            self._create_actors()
            self._start_actors(list(self.groups))
            self.driver.start(self._side, self.trace is not None, self.actors)
        except BaseException:
            try:
                self._cancel_actors()  # the groups that did open their nodes close them
            finally:
                self._teardown(collect=False)  # every thread joined, every actor created so far killed
            raise
        self._monitor = threading.Thread(target=self._watch, name="graphflow-ray-monitor", daemon=True)
        self._monitor.start()
        return self

    def _create_actors(self) -> None:
        for name, part in self.groups.items():
            g = part.group
            opts: dict[str, Any] = {"max_concurrency": BASE_CONCURRENCY + len(part.inputs) + len(part.outputs),
                                    "max_restarts": g.max_restarts if g else 0}
            if g is not None:
                if g.num_cpus is not None:
                    opts["num_cpus"] = g.num_cpus
                if g.num_gpus is not None:
                    opts["num_gpus"] = g.num_gpus
                if g.resources:
                    opts["resources"] = dict(g.resources)
            self.actors[name] = GroupActor.options(**opts).remote(part, self.lossless)
        pings = {name: actor.ping.remote() for name, actor in self.actors.items()}
        for name, ref in pings.items():
            try:
                ray.get(ref, timeout=PLACEMENT_TIMEOUT_S)
            except GetTimeoutError:
                g = self.groups[name].group
                need = {"num_cpus": g.num_cpus, "num_gpus": g.num_gpus, **g.resources} if g else {}
                raise ConfigError(f"group '{name}' could not be placed within {PLACEMENT_TIMEOUT_S:.0f} s: it needs "
                                  f"{ {k: v for k, v in need.items() if v is not None} }, the cluster has "
                                  f"{ray.available_resources()}", location=g.loc if g else self.spec.source,
                                  hint="lower the group's num_cpus/num_gpus/resources, or add a node that has "
                                       "them") from None
            except RayError as exc:
                raise GraphError(f"group '{name}': its actor failed to start: {str(exc).splitlines()[0]}",
                                 node=name, phase="start") from exc

    def _start_actors(self, names: list[str]) -> None:
        refs = {name: self.actors[name].start.remote(self._side_for(name), self.trace is not None, self.actors)
                for name in names}
        for name, ref in refs.items():
            try:
                ray.get(ref)
            except RayError as exc:
                raise self._remote_error(name, self._error_dict(name, exc)) from None

    def _side_for(self, name: str) -> dict[str, Any]:
        used = {n for n, _ in self.groups[name].graph.spec.input_side_packets}
        return {k: v for k, v in self._side.items() if k in used}

    def _error_dict(self, name: str, exc: BaseException) -> dict[str, Any]:
        """The error a group reported (after a failing call), or a description of the call's failure."""
        try:
            info = ray.get(self.actors[name].wait_done.remote(0.0), timeout=CONNECT_TIMEOUT_S)
            if info.get("error"):
                return info["error"]
        except RayError:
            pass
        return {"part": name, "message": str(exc).splitlines()[0], "node": "", "calculator": "", "phase": "",
                "timestamp": None, "traceback": str(exc), "type": type(exc).__name__}

    def _remote_error(self, group: str, info: dict[str, Any]) -> GraphError:
        ts = info.get("timestamp")
        err = GraphError(f"group '{group}': {info['message']}", node=info.get("node", ""),
                         calculator=info.get("calculator", ""), timestamp=None if ts is None else Timestamp(ts),
                         phase=info.get("phase", ""))
        err.group = group  # type: ignore[attr-defined]
        err.__cause__ = RemoteError(info.get("traceback", ""))
        return err

    def _actor_died(self, group: str, exc: BaseException) -> GraphError:
        nodes = ", ".join(self.groups[group].node_names)
        sent = [b.stats() for b in self.driver.outboxes.values() if b.edge.dst == group]
        last = max((self.driver.outboxes[s].last_bound for s in self.driver.outboxes
                    if self.driver.outboxes[s].edge.dst == group), default=None)
        where = f"; the driver had sent up to timestamp {Timestamp(last - 1)}" if sent and last and last > 0 else ""
        err = GraphError(f"group '{group}' (nodes {nodes}): its actor died: {str(exc).splitlines()[0]}{where}",
                         node=self.groups[group].node_names[0] if self.groups[group].node_names else group,
                         phase="actor")
        err.group = group  # type: ignore[attr-defined]
        err.__cause__ = exc
        return err

    def _watch(self) -> None:
        """Monitor thread: wait on every part; turn the first failure into the graph's error."""
        pending = {name: actor.wait_done.remote(MONITOR_SLICE_S * 5) for name, actor in self.actors.items()}
        while pending and self._state == "running":
            ready, _ = ray.wait(list(pending.values()), num_returns=1, timeout=MONITOR_SLICE_S)
            if self.driver.error is not None:
                self._fail(self._remote_error("driver", self.driver.error), blame=None)
                return
            for ref in ready:
                name = next(n for n, r in pending.items() if r == ref)
                try:
                    info = ray.get(ref)
                except RayActorError as exc:
                    g = self.groups[name].group
                    budget = g.max_restarts if g else 0
                    if (budget < 0 or self.restarts[name] < budget) and self._restart(name):
                        pending[name] = self.actors[name].wait_done.remote(MONITOR_SLICE_S * 5)
                        continue
                    self._fail(self._actor_died(name, exc), blame=name)
                    return
                if info["state"] == "failed":
                    self._fail(self._remote_error(name, info["error"]), blame=name)
                    return
                if info["state"] == "done":
                    del pending[name]
                else:
                    pending[name] = self.actors[name].wait_done.remote(MONITOR_SLICE_S * 5)
        while self._state == "running" and self.driver.error is None and not self.driver.finished.is_set():
            self.driver.finished.wait(MONITOR_SLICE_S)  # ends the monitor as soon as the driver's part is done
        if self.driver.error is not None and self._state == "running":
            self._fail(self._remote_error("driver", self.driver.error), blame=None)

    def _restart(self, name: str) -> bool:
        """Ray restarts a dead actor with its constructor; reconnect it and start its part again."""
        self.restarts[name] += 1
        deadline = time.monotonic() + PLACEMENT_TIMEOUT_S
        while True:
            try:
                ray.get(self.actors[name].ping.remote(), timeout=CONNECT_TIMEOUT_S)
                break
            except (ActorUnavailableError, GetTimeoutError):  # still restarting
                if time.monotonic() > deadline or self._state != "running":
                    return False
                time.sleep(MONITOR_SLICE_S)
            except RayError:
                return False
        try:
            self._start_actors([name])
        except (RayError, GraphError):
            return False
        return True

    def _fail(self, err: GraphError, blame: str | None) -> None:
        with self._lock:
            if self._error is None:
                self._error = err
        self.driver.cancel()
        self._cancel_actors()

    def _cancel_actors(self) -> None:
        if not self.actors:
            return  # nothing was created (and any ray call here would start a local Ray)
        try:
            refs = [actor.cancel.remote() for actor in list(self.actors.values())]
            ray.wait(refs, num_returns=len(refs), timeout=10.0)
        except Exception:  # noqa: BLE001 - dead actors or a Ray gone: the teardown kills what is left
            pass

    def _check_running(self, verb: str) -> None:
        if self._error is not None:
            raise self._error
        if self._state != "running":
            raise RuntimeError(f"{self!r}: {verb}() needs a started graph (call start() first)"
                               if self._state == "new" else f"{self!r}: {verb}() after close()")

    def add_packet(self, stream: str, payload: Any, timestamp: int | Timestamp | None = None,
                   timeout: float | None = -1.0) -> None:
        """As ``Graph.add_packet``; a bridge whose receiving group is full counts as a full queue."""
        self._check_running("add_packet")
        if timeout is not None and timeout < 0:
            timeout = self.add_packet_timeout
        for box in self.driver.by_stream.get(stream, []):
            box.wait_for_space(timeout)
        self.driver.graph.add_packet(stream, payload, timestamp, timeout=timeout)
        if self._error is not None:
            raise self._error

    def set_input_bound(self, stream: str, timestamp: int | Timestamp) -> None:
        self._check_running("set_input_bound")
        self.driver.graph.set_input_bound(stream, timestamp)  # type: ignore[attr-defined]
        if not self.driver.bounds:
            return
        for box in self.driver.by_stream.get(stream, []):  # the observer forwards it; this is for older engines
            box.put_bound(int(timestamp))

    def close_input(self, stream: str) -> None:
        self._check_running("close_input")
        self.driver.graph.close_input(stream)
        for box in self.driver.by_stream.get(stream, []):
            box.put_bound(DONE_US)
        self._closed_inputs.add(stream)

    def close_all_inputs(self) -> None:
        for stream in self._user_inputs:
            if stream not in self._closed_inputs:
                self.close_input(stream)
        self.driver.close_inputs()

    def wait_until_done(self, timeout: float | None = None) -> None:
        """Close the graph inputs, wait until every part has finished, then release the actors."""
        if self._state == "closed":
            if self._error is not None:
                raise self._error
            return
        self._check_running("wait_until_done")
        self.close_all_inputs()
        self._wait_finished(timeout, "wait_until_done")
        self._teardown()
        if self._error is not None:
            raise self._error

    def _wait_finished(self, timeout: float | None, verb: str) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._error is None:
            if self.driver.finished.is_set() and (self._monitor is None or not self._monitor.is_alive()):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise GraphTimeoutError(f"{self!r}: {verb}() timed out after {timeout} s; parts still running: "
                                        f"{', '.join(self._unfinished()) or 'none'}")
            # woken by whichever comes first; the slice bounds how late an error (set by the monitor) is noticed
            if self.driver.finished.wait(FINISH_SLICE_S) and self._monitor is not None:
                self._monitor.join(FINISH_SLICE_S)

    def _unfinished(self) -> list[str]:
        out = [] if self.driver.finished.is_set() else ["driver"]
        for name, actor in self.actors.items():
            try:
                if ray.get(actor.wait_done.remote(0.0), timeout=2.0)["state"] != "done":
                    out.append(name)
            except RayError:
                out.append(f"{name} (actor unreachable)")
        return out

    def close(self, timeout: float = 10.0) -> None:
        """Finish the run (inputs close, parts drain) within ``timeout`` s, then release everything."""
        if self._state == "new":
            self._state = "closed"
            return
        if self._state == "closed":
            return
        try:
            self.close_all_inputs()
            self._wait_finished(timeout, "close")
        except GraphTimeoutError:
            self.cancel()
            raise
        finally:
            self._teardown()
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        """End early but cleanly (Ctrl-C): every part's sources stop and what is inside drains; then ``close``."""
        if self._state == "running" and self._error is None:
            refs = [actor.stop.remote(timeout) for actor in self.actors.values()]
            self.driver.stop(timeout)
            try:
                if refs:
                    ray.wait(refs, num_returns=len(refs), timeout=timeout)
            except RayError:
                pass
        self.close(timeout)

    def cancel(self, timeout: float = 5.0) -> list[str]:
        """Abandon the run now: every part is cancelled (opened nodes get ``close``), the actors are killed."""
        if self._state == "new":
            self._state = "closed"
            return []
        stuck = self.driver.cancel(timeout)
        self._cancel_actors()
        self._teardown()
        return stuck

    def _teardown(self, collect: bool = True) -> None:
        """Release everything (idempotent), whatever went wrong before: the driver's part and its transport
        threads, the monitor, the actors. ``collect``: fetch the groups' stats and trace first."""
        if self._state == "closed":
            return
        try:
            if collect:
                self._final_stats = None
                if self.actors:
                    try:
                        self._final_stats = self._group_stats()
                    except RayError:
                        pass  # a dead group: its numbers are gone with it
                if self.trace is not None:
                    self._write_trace()
        finally:
            self._state = "closed"
            try:
                self.driver.cancel()  # joins its transport threads; after a clean finish only closes the graph
            finally:
                if self._monitor is not None and self._monitor is not threading.current_thread():
                    self._monitor.join(JOIN_TIMEOUT_S)
                self._kill_actors()
                _LIVE.discard(self)

    def _kill_actors(self) -> None:
        for actor in list(self.actors.values()):
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - Ray already gone (shut down, or a dead cluster): nothing to release
                pass

    def _write_trace(self) -> None:
        """One Perfetto file: every part's events on a process track named after its group."""
        docs = [("driver", self.driver.ping()["pid"], self.driver.trace())]
        for name, actor in self.actors.items():
            try:
                docs.append((f"group {name}", ray.get(actor.ping.remote(), timeout=5.0)["pid"],
                             ray.get(actor.trace.remote(), timeout=10.0)))
            except RayError:
                continue  # a dead actor's events are gone with it
        events: list[dict[str, Any]] = []
        for label, pid, doc in docs:
            events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": label}})
            for ev in (doc or {}).get("traceEvents", []):
                events.append({**ev, "pid": pid})
        Path(self.trace).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}))

    def __enter__(self) -> RayGraph:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.close(timeout=5.0)
            except (GraphError, GraphTimeoutError):
                pass

    def run(self, side_packets: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        self.start(side_packets)
        self.wait_until_done(timeout)
        return self.stats()

    # ---- observability ---------------------------------------------------------------------------------------
    def _group_stats(self) -> dict[str, Any]:
        refs = {name: actor.stats.remote() for name, actor in list(self.actors.items())}
        return {name: ray.get(ref, timeout=10.0) for name, ref in refs.items()}

    def stats(self) -> dict[str, Any]:
        """The engine's stats shape, merged over the driver and every group; plus ``groups`` and ``bridges``."""
        parts = {DRIVER: self.driver.stats()}
        if self._state == "closed":
            parts.update(getattr(self, "_final_stats", None) or {})
        else:
            parts.update(self._group_stats())
        return merge_stats(parts, self.restarts)

    @property
    def failed(self) -> bool:
        return self._error is not None or self.driver.error is not None

    @property
    def error(self) -> GraphError | None:
        return self._error


def merge_stats(parts: dict[str, dict[str, Any]], restarts: dict[str, int]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    streams: dict[str, Any] = {}
    bridges: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    drops = 0
    for name, st in parts.items():
        g = st["graph"]
        for node, ns in g["nodes"].items():
            nodes[node] = {**ns, "group": None if name == DRIVER else name}
        for stream, ss in g["streams"].items():
            if stream not in streams or ss.get("packets", 0) > streams[stream].get("packets", 0):
                streams[stream] = ss  # a bridged stream shows in both parts: the producer's count is the one
        drops += g["drops_total"]
        for edge, out in st["outboxes"].items():
            bridges.setdefault(edge, {}).update(out)
            drops += out["drops"] + out["lost"]
        for edge, inn in st["inboxes"].items():
            bridges.setdefault(edge, {}).update(inn)
            drops += inn["seq_gaps"]
        if name != DRIVER:
            groups[name] = {"pid": st["pid"], "node_id": st["node_id"], "state": st["state"],
                            "restarts": restarts.get(name, 0), "incarnation": st["incarnation"]}
    driver = parts[DRIVER]["graph"]
    return {"nodes": nodes, "streams": streams, "pollers": driver.get("pollers", {}), "drops_total": drops,
            "deadlock_reliefs": sum(p["graph"].get("deadlock_reliefs", 0) for p in parts.values()),
            "bridges": bridges, "groups": groups}


def ray_graph(source: str | Path | dict[str, Any] | GraphSpec | ValidatedGraph, **kwargs: Any) -> RayGraph:
    """A ``RayGraph`` from a path/YAML/dict (graph options as keyword arguments) or an already loaded spec."""
    if isinstance(source, GraphSpec | ValidatedGraph):
        return RayGraph(source, **kwargs)
    known = {"address", "trace", "allow_imports", "add_packet_timeout", "lossless"}
    graph_kwargs = {k: v for k, v in kwargs.items() if k in known}
    options = {k: v for k, v in kwargs.items() if k not in known}
    return RayGraph.from_yaml(source, **graph_kwargs, **options)
