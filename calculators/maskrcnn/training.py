"""A generic training epoch for ``MaskRCNN.losses``: sum the loss terms, step, show progress.

The total loss is L = L_cls + L_box + L_mask + L_rpn_objectness + L_rpn_box (He et al. 2017, section 3, with the
RPN trained jointly as in torchvision). Optional linear learning-rate warm-up and gradient-norm clipping; a
non-finite loss stops the epoch with an error instead of corrupting the weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from tqdm import tqdm


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[list[Tensor], list[dict[str, Tensor]]]],
    optimizer: torch.optim.Optimizer,
    max_grad_norm: float | None = None,
    warmup_iters: int = 0,
    start_iter: int = 0,
    progress: bool = True,
    total: int | None = None,
) -> dict[str, float]:
    """Run ``loader`` once: batches of (images [(3, H, W) in [0, 1]], targets [{boxes, labels, masks}]).

    ``warmup_iters``: the learning rate ramps linearly from 1/1000 to its set value over the first iterations,
    counted from ``start_iter`` (pass the global step when an epoch does not start at 0).
    Returns the mean of each loss term and of their sum ("loss") over the epoch.
    """
    model.train()
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    sums: dict[str, float] = {}
    steps = 0
    bar = tqdm(loader, total=total, disable=not progress, desc="train", unit="batch")
    for step, (images, targets) in enumerate(bar, start=start_iter):
        if step < warmup_iters:
            factor = 1e-3 + (1 - 1e-3) * step / warmup_iters
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr * factor
        losses = model.losses(images, targets)
        total_loss = sum(losses.values())
        if not math.isfinite(float(total_loss.detach())):
            raise FloatingPointError(
                f"non-finite loss at step {step}: { ({k: float(v.detach()) for k, v in losses.items()}) }"
            )
        optimizer.zero_grad(set_to_none=True)
        total_loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_grad_norm)
        optimizer.step()
        for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = lr
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + float(value.detach())
        sums["loss"] = sums.get("loss", 0.0) + float(total_loss.detach())
        steps += 1
        bar.set_postfix(loss=f"{float(total_loss.detach()):.3f}")
    return {name: value / max(steps, 1) for name, value in sums.items()}
