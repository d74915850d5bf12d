"""Per-node and per-stream statistics as a dict, and as a printable table."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .runtime import RUNNING

if TYPE_CHECKING:
    from .poller import PollerChannel
    from .scheduler import Scheduler


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k] / 1000.0


def collect(s: Scheduler, pollers: list[PollerChannel]) -> dict[str, Any]:
    """Counters are read under the scheduler lock; latency samples are only copied there and sorted after it, so a
    stats call (e.g. the live view's, twice a second) holds the workers up for a copy, not for a sort."""
    with s.lock:
        result = _collect(s, pollers)
        samples = {n.name: n.latency_samples() for n in s.nodes}
    for name, values in samples.items():
        lat = sorted(values)
        result["nodes"][name]["latency_us"] = {
            "p50": _percentile(lat, 0.50), "p95": _percentile(lat, 0.95),
            "max": (lat[-1] / 1000.0) if lat else 0.0,
            "mean": (sum(lat) / len(lat) / 1000.0) if lat else 0.0,
        }
    return result


def _collect(s: Scheduler, pollers: list[PollerChannel]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    drops_total = 0
    for n in s.nodes:
        inputs = {}
        for q in n.inputs:
            key = q.tag if len(n.inputs_by_tag[q.tag]) == 1 else f"{q.tag}[{q.index}]"
            inputs[key] = {
                "stream": q.stream, "queue_size": q.capacity, "queue_policy": q.policy, "depth": len(q.packets),
                "high_water": q.high_water, "received": q.received, "drops": q.drops, "overflows": q.overflows,
                "dropped_at_close": q.dropped_at_close,
            }
            drops_total += q.drops
        nodes[n.name] = {
            "calculator": n.info.spec.calculator,
            "process_calls": n.calls,
            "busy_s": n.busy_ns / 1e9,
            "latency_us": {},  # filled in by collect() outside the lock
            "inputs": inputs,
            "counters": dict(n.counters),
            "state": "closed" if n.closed else ("running" if n.state is RUNNING else "open" if n.opened else "new"),
        }
        drops_total += sum(v for k, v in n.counters.items() if k.startswith("dropped"))
    polled = {}
    for ch in pollers:
        polled[ch.stream] = {"received": ch.received, "dropped": ch.dropped, "skipped_by_latest": ch.skipped,
                             "waiting": len(ch.queue)}
        drops_total += ch.dropped
    return {
        "nodes": nodes,
        "streams": {name: {"packets": st.count, "bound_us": st.bound} for name, st in s.streams.items()},
        "pollers": polled,
        "drops_total": drops_total,
        "deadlock_reliefs": s.deadlock_reliefs,
        "uptime_s": 0.0 if s.started_at is None else time.monotonic() - s.started_at,
    }


def table(stats: dict[str, Any]) -> str:
    rows = [("node", "calculator", "calls", "p50 us", "p95 us", "max us", "q hwm", "drops", "counters")]
    for name, n in stats["nodes"].items():
        hwm = max((i["high_water"] for i in n["inputs"].values()), default=0)
        drops = sum(i["drops"] for i in n["inputs"].values())
        counters = ", ".join(f"{k}={v}" for k, v in n["counters"].items())
        lat = n["latency_us"]
        rows.append((name, n["calculator"], str(n["process_calls"]), f"{lat['p50']:.1f}", f"{lat['p95']:.1f}",
                     f"{lat['max']:.1f}", str(hwm), str(drops), counters))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"total drops: {stats['drops_total']}   back-pressure deadlock reliefs: {stats['deadlock_reliefs']}")
    return "\n".join(lines)
