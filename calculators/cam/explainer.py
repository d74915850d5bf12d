"""Runs a (features -> global average pooling -> linear) classifier and its class activation maps in one pass.

Any model works that exposes ``forward_features(x) -> (B, C, h, w)`` and a ``classifier`` ``nn.Linear`` applied to
the spatial mean of those features (``GapClassifier`` describes one; ``EfficientNetLite0`` is one as it stands).
For a layer that is not followed by GAP + linear, ``grad_cam_layer`` names a submodule of the model: a forward hook
keeps its activation and Grad-CAM replaces CAM. The hook handle is kept and removed by ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .cam import class_activation_maps, grad_cam


@dataclass
class GapClassifier:
    """A classifier ending in features -> global average pooling -> linear.

    features: (B, 3, S, S) input -> (B, C, h, w) features. Everything before pooling.
    linear: the ``nn.Linear(C, num_classes)`` after pooling.
    class_names: one per output of ``linear``.
    multi_label: scores are per-output sigmoids (e.g. hand presence, handedness) rather than a softmax.
    module: the ``nn.Module`` holding the weights (where a Grad-CAM layer is looked up).
    """

    features: Callable[[torch.Tensor], torch.Tensor]
    linear: nn.Linear
    class_names: Sequence[str]
    module: nn.Module
    multi_label: bool = False


@dataclass(frozen=True)
class CamOutput:
    """What one image gives. K = number of mapped classes.

    logits: (num_classes,) float32. scores: (num_classes,) float32 probabilities.
    classes: (K,) int64 mapped classes (best first for top-k). maps: (K, h, w) float32 raw maps at the
    resolution of the features (CAM) or of the Grad-CAM layer.
    """

    logits: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    maps: np.ndarray


class CamExplainer:
    """Classify one preprocessed image and map the top-k (or requested) classes. Call ``close()`` when done."""

    def __init__(self, model: GapClassifier, grad_cam_layer: str = "") -> None:
        self.model = model
        self.grad_cam_layer = grad_cam_layer
        self._activation: torch.Tensor | None = None
        self._hook: torch.utils.hooks.RemovableHandle | None = None
        if grad_cam_layer:
            layer = model.module.get_submodule(grad_cam_layer)  # raises AttributeError naming the bad path
            self._hook = layer.register_forward_hook(self._keep_activation)

    def _keep_activation(self, module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor | None:
        if torch.is_grad_enabled() and not output.requires_grad:
            # frozen weights: cut the graph here so the class scores still have a gradient for this activation
            output = output.detach().requires_grad_(True)
            self._activation = output
            return output
        self._activation = output
        return None

    def close(self) -> None:
        """Remove the forward hook, if any (idempotent)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._activation = None

    def __enter__(self) -> CamExplainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scores(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.model.multi_label else torch.softmax(logits, dim=-1)

    def _select(self, scores: torch.Tensor, top_k: int, classes: Sequence[int] | None) -> torch.Tensor:
        if classes is not None:
            chosen = torch.as_tensor(list(classes), dtype=torch.int64)
            if len(chosen) and (chosen.min() < 0 or chosen.max() >= len(scores)):
                raise IndexError(f"classes {list(classes)} out of range for {len(scores)} outputs")
            return chosen
        return torch.topk(scores, min(top_k, len(scores))).indices

    def explain(self, x: torch.Tensor, top_k: int = 5, classes: Sequence[int] | None = None,
                flip: bool = False) -> CamOutput:
        """x: (1, 3, S, S) preprocessed image. Maps ``classes`` if given, else the ``top_k`` best classes.

        flip: also run the mirrored image (one batch of two) and average the logits and the maps (the mirrored
        maps flipped back). A mean of CAMs is the CAM of the mean features, so the identity "mean of M_c plus b_c
        is the logit" still holds for the averaged outputs. CAM only (not with ``grad_cam_layer``).
        """
        if x.shape[0] != 1:
            raise ValueError(f"one image at a time, got a batch of {x.shape[0]}")
        if self._hook is not None:
            if flip:
                raise ValueError("flip averaging is for CAM; Grad-CAM (grad_cam_layer) maps one image")
            return self._explain_grad_cam(x, top_k, classes)
        with torch.inference_mode():
            batch = torch.cat([x, torch.flip(x, dims=[3])]) if flip else x
            features = self.model.features(batch)  # (B, C, h, w), B = 1 or 2
            if flip:
                features = torch.stack([features[0], torch.flip(features[1], dims=[2])]).mean(dim=0, keepdim=True)
            logits = self.model.linear(features.mean(dim=(2, 3)))[0]  # (num_classes,)
            scores = self._scores(logits)
            chosen = self._select(scores, top_k, classes)
            maps = class_activation_maps(features[0], self.model.linear.weight, chosen)  # (K, h, w)
        return CamOutput(logits.numpy().astype(np.float32), scores.numpy().astype(np.float32),
                         chosen.numpy(), maps.numpy().astype(np.float32))

    def _explain_grad_cam(self, x: torch.Tensor, top_k: int, classes: Sequence[int] | None) -> CamOutput:
        with torch.enable_grad():
            self._activation = None
            features = self.model.features(x)
            logits = self.model.linear(features.mean(dim=(2, 3)))[0]
            activation = self._activation
            if activation is None:
                raise RuntimeError(f"layer {self.grad_cam_layer!r} did not run in the forward pass")
            scores = self._scores(logits.detach())
            chosen = self._select(scores, top_k, classes)
            maps = []
            for c in chosen.tolist():
                (grad,) = torch.autograd.grad(logits[c], activation, retain_graph=True)
                maps.append(grad_cam(activation[0].detach(), grad[0]))
        self._activation = None
        stacked = torch.stack(maps) if maps else torch.zeros((0, *activation.shape[2:]))
        return CamOutput(logits.detach().numpy().astype(np.float32), scores.numpy().astype(np.float32),
                         chosen.numpy(), stacked.numpy().astype(np.float32))
