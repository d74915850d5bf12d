"""Run one calculator in isolation, for unit tests (MediaPipe's CalculatorRunner, dora's MockNode).

    out = run_calculator(
        "calculator: TestScale\\ninputs: {IN: x}\\noutputs: {OUT: y}\\noptions: {factor: 3}",
        inputs={"IN": [(0, 1), (1, 2)]},
    )
    assert [p.payload for p in out["OUT"]] == [3, 6]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .graph import Graph
from .packet import Packet
from .yaml_source import load_yaml


def run_calculator(
    node: str | dict[str, Any],
    inputs: dict[str, Iterable[tuple[int, Any]]] | None = None,
    side_packets: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    timeout: float = 60.0,
    executor: str = "inline",
) -> dict[str, list[Packet]]:
    """Run ``node`` (a YAML/dict node: calculator, inputs, outputs, side_inputs, options) over ``inputs``.

    ``inputs`` maps an input TAG (or a stream name used in the node's ``inputs``) to (timestamp, payload) pairs;
    when the node omits ``inputs``/``outputs``, every port of the calculator is wired to a stream named after its
    tag. ``side_packets`` maps side-input TAGs (or side packet names) to values. Returns output TAG -> packets.
    """
    spec = load_yaml(node, "<node>") if isinstance(node, str) else dict(node)
    if not isinstance(spec, dict) or "calculator" not in spec:
        raise ValueError("run_calculator needs a node mapping with a 'calculator' key")
    from .registry import resolve

    cls = resolve(spec["calculator"], spec.get("allow_imports", ()) or ())
    spec = {k: v for k, v in spec.items() if k != "allow_imports"}
    if options:
        spec["options"] = {**(spec.get("options") or {}), **options}
    feeds = dict(inputs or {})
    if "inputs" not in spec:
        spec["inputs"] = {tag: tag.lower() for tag in cls.input_ports() if tag in feeds}
    if "outputs" not in spec:
        spec["outputs"] = {tag: f"out_{tag.lower()}" for tag in cls.output_ports()}
    sides = dict(side_packets or {})
    if "side_inputs" not in spec:
        spec["side_inputs"] = {tag: f"side_{tag.lower()}" for tag in cls.side_input_ports() if tag in sides}

    def streams(mapping: dict[str, Any]) -> dict[str, str]:
        out = {}
        for tag, v in mapping.items():
            out[tag] = v["stream"] if isinstance(v, dict) else v
        return out

    in_streams = streams(spec["inputs"])
    out_streams = streams(spec["outputs"])
    side_names = dict(spec["side_inputs"])
    graph_def = {
        "input_streams": sorted(set(in_streams.values())),
        "output_streams": sorted(set(out_streams.values())),
        "input_side_packets": sorted(set(side_names.values())),
        "nodes": [spec],
    }
    graph = Graph.from_yaml(graph_def, executor=executor)
    pollers = {tag: graph.poller(stream) for tag, stream in out_streams.items()}
    side_values = {side_names.get(k, k): v for k, v in sides.items()}
    graph.start(side_values)
    try:
        events = []
        for key, packets in feeds.items():
            stream = in_streams.get(key, key)
            for ts, payload in packets:
                events.append((int(ts), stream, payload))
        events.sort(key=lambda e: e[0])
        for ts, stream, payload in events:
            graph.add_packet(stream, payload, ts)
        graph.wait_until_done(timeout)
    finally:
        graph.close()
    return {tag: list(p) for tag, p in pollers.items()}
