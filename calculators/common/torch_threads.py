"""The one owner of ``torch.set_num_threads``: torch has a single intra-op thread pool per process.

Every calculator that runs torch takes the same option, ``num_threads`` (CAM, Mask R-CNN, the hand networks with
``backend: torch``), and asks here instead of calling ``torch.set_num_threads`` itself.

Rule when nodes disagree: the pool has as many threads as the *largest* request of the nodes currently open
(``0`` = no request: leave torch's setting alone). No node ever runs with fewer threads than it asked for, and the
result does not depend on the order in which nodes open; a node asking for fewer than the pool already has is
told in the log which node's request wins. Closing a node (``release_torch_threads``) or dropping it withdraws
its request; the pool shrinks to the largest remaining one (or stays as it is when none remains).

Backends with their own pools (ONNX Runtime, OpenVINO) take ``num_threads`` per network and never touch this.
"""

from __future__ import annotations

import logging
import threading
import weakref

log = logging.getLogger(__name__)

_lock = threading.Lock()
_requests: dict[int, tuple[str, int]] = {}  # requester id -> (its name, threads asked for)


def request_torch_threads(requester: object, num_threads: int, name: str | None = None) -> int:
    """Register ``requester``'s wish for ``num_threads`` intra-op threads (0: none) and apply the rule above.

    Returns the pool size in effect afterwards (torch.get_num_threads()).
    """
    import torch

    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0 = leave torch's setting), got {num_threads}")
    label = name or type(requester).__name__
    with _lock:
        if num_threads == 0:
            _requests.pop(id(requester), None)
            return torch.get_num_threads()
        if id(requester) not in _requests:  # withdrawn when the requester is garbage-collected, if not before
            weakref.finalize(requester, _withdraw, id(requester))
        _requests[id(requester)] = (label, num_threads)
        _apply(torch)
        size = torch.get_num_threads()
        if size > num_threads:
            winner = max(_requests.values(), key=lambda r: r[1])
            log.info("%s asked for %d torch threads; the process-wide pool keeps %d (asked for by %s)",
                     label, num_threads, size, winner[0])
        return size


def release_torch_threads(requester: object) -> None:
    """Withdraw ``requester``'s request (call from ``close``); the pool follows the largest remaining one."""
    _withdraw(id(requester))


def _withdraw(key: int) -> None:
    import torch

    with _lock:
        if _requests.pop(key, None) is not None and _requests:
            _apply(torch)


def _apply(torch: object) -> None:
    want = max(n for _, n in _requests.values())
    if torch.get_num_threads() != want:  # type: ignore[attr-defined]
        torch.set_num_threads(want)  # type: ignore[attr-defined]
