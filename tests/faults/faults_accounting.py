"""Packet accounting from ``Graph.stats()``: every packet that entered a queue is processed, dropped or waiting.

For a node with one input: ``received == consumed + drops + depth``, where ``consumed`` is the node's
``process_calls`` plus the one packet its failing ``process`` call held (the packet in flight at the error).
For a stream: every consumer's ``received`` equals the stream's ``packets`` (each packet reaches every consumer).
"""

from __future__ import annotations

from typing import Any


def check_accounting(stats: dict[str, Any], failed_in_process: str | None = None) -> dict[str, dict[str, int]]:
    """Assert both identities on ``stats``; return per node {received, consumed, drops, depth} for more checks."""
    table: dict[str, dict[str, int]] = {}
    for name, node in stats["nodes"].items():
        inputs = node["inputs"]
        for q in inputs.values():
            sent = stats["streams"][q["stream"]]["packets"]
            assert q["received"] == sent, (
                f"node '{name}': received {q['received']} packets from stream '{q['stream']}', which carried {sent}")
        if len(inputs) != 1:
            continue
        (q,) = inputs.values()
        in_flight = 1 if name == failed_in_process else 0
        consumed = node["process_calls"] + in_flight
        row = {"received": q["received"], "consumed": consumed, "drops": q["drops"], "depth": q["depth"]}
        assert q["received"] == consumed + q["drops"] + q["depth"], f"node '{name}' loses packets: {row}"
        table[name] = row
    assert stats["drops_total"] >= sum(r["drops"] for r in table.values())
    return table
