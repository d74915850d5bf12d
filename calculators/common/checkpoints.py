"""Reading weight files safely and checking them against a model, with one-line errors that say what to do.

``read_state_dict`` loads with ``torch.load(weights_only=True)`` only (tensors and plain containers: a checkpoint
cannot run code), and turns a truncated or foreign file into a ``ValueError`` naming the file. ``check_state_dict``
compares names and shapes with the model's own state dict before ``load_state_dict``, so a checkpoint for another
architecture is reported as counts and the first few names, not a page of PyTorch text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

SHOWN = 3  # names listed per kind of mismatch


def read_state_dict(path: str | Path, nested_key: str | None = None) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` dict in ``path`` (or in its ``nested_key`` entry, e.g. "model" for training scripts)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: weight file not found")
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every torch.load failure means the same to the caller
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a readable weights-only torch checkpoint (truncated, corrupt, or it pickles "
                         f"code: {why[:160]}); download it again") from exc
    if nested_key is not None and isinstance(state, Mapping) and isinstance(state.get(nested_key), Mapping):
        state = state[nested_key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        kind = type(state).__name__ if not isinstance(state, Mapping) else "a mapping with non-tensor values"
        raise ValueError(f"{path}: holds {kind}, not a state dict of tensors")
    return dict(state)


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN])
    return shown + (f", ... {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def _report(missing: list[str], unexpected: list[str], shapes: list[str], what: str, source: str | Path,
            total: int) -> None:
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} with another shape (checkpoint vs model: {_names(shapes)})")
    if problems:
        raise ValueError(f"{source} does not fit {what}: {'; '.join(problems)} tensors of {total}")


def _shape_mismatches(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> list[str]:
    return [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in expected
            if k in state and state[k].shape != expected[k].shape]


def check_state_dict(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], what: str,
                     source: str | Path) -> None:
    """Raise ``ValueError`` unless ``state`` has exactly ``expected``'s names with the same shapes."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    _report(missing, unexpected, _shape_mismatches(state, expected), what, source, len(expected))


def load_checked(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str, source: str | Path) -> None:
    """``module.load_state_dict(state)`` with every name and shape accounted for, or one ``ValueError`` line.

    Modules that drop or rename keys while loading (e.g. frozen batch norm ignoring ``num_batches_tracked``) are
    respected: names are judged by what ``load_state_dict`` itself reports, shapes are checked before it runs.
    """
    expected = module.state_dict()
    _report([], [], _shape_mismatches(state, expected), what, source, len(expected))
    result = module.load_state_dict(state, strict=False)
    _report(list(result.missing_keys), list(result.unexpected_keys), [], what, source, len(expected))
