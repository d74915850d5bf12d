"""One owner of torch's process-wide thread pool: the largest request of the open nodes wins, in any order."""

from __future__ import annotations

import gc

import pytest
import torch

from calculators.common.torch_threads import release_torch_threads, request_torch_threads
from graphflow import Graph


class Node:
    """Stands for any calculator asking for threads (the helper only needs an object to key the request by)."""


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_largest_open_request_wins_whatever_the_order() -> None:
    a, b = Node(), Node()
    assert request_torch_threads(a, 2, "a") == 2
    assert request_torch_threads(b, 1, "b") == 2  # b asks for fewer: a's request keeps the pool at 2
    release_torch_threads(a)
    assert torch.get_num_threads() == 1  # only b's request is left
    release_torch_threads(b)
    c, d = Node(), Node()
    assert request_torch_threads(d, 1, "d") == 1
    assert request_torch_threads(c, 2, "c") == 2  # the other order, the same pool
    del c
    gc.collect()  # a dropped node withdraws its request
    assert torch.get_num_threads() == 1
    release_torch_threads(d)


def test_zero_is_no_request_and_negative_is_refused() -> None:
    torch.set_num_threads(1)
    assert request_torch_threads(Node(), 0) == 1
    with pytest.raises(ValueError, match="num_threads must be >= 0"):
        request_torch_threads(Node(), -1)


def test_cam_node_takes_num_threads_like_the_others() -> None:
    """CAM's option is num_threads now (it was `threads`): the old name is an unknown option at validation."""
    torch.set_num_threads(1)
    nodes = [{"name": "cam", "calculator": "ClassActivationMap", "inputs": {"IMAGE": "image"},
              "outputs": {"CAM": "cam"}, "options": {"model": "hand_landmark", "hand_variant": "lite",
                                                    "num_threads": 2}}]
    graph = Graph.from_yaml({"input_streams": ["image"], "output_streams": ["cam"], "nodes": nodes})
    graph.start()
    try:
        assert torch.get_num_threads() == 2
    finally:
        graph.close()
    nodes[0]["options"] = {"model": "hand_landmark", "threads": 2}
    with pytest.raises(Exception, match="threads"):
        Graph.from_yaml({"input_streams": ["image"], "output_streams": ["cam"], "nodes": nodes})
