"""ModelRunner: a batch run as single calls (the compiled path) gives the batched result."""

import numpy as np
import torch

from calculators.hands.model_runner import ModelRunner
from calculators.model_store import load_hand_landmark

torch.set_num_threads(1)


def test_item_by_item_equals_batched():
    runner = ModelRunner(lambda: load_hand_landmark("lite"), 224, num_threads=1)
    batch = np.random.default_rng(0).random((3, 3, 224, 224), dtype=np.float32)
    batched = runner(batch)
    runner.compiled = True  # take the path a compiled network uses: N calls of batch 1, concatenated
    single = runner(batch)
    assert [a.shape for a in single] == [a.shape for a in batched] and batched[0].shape[0] == 3
    for a, b in zip(single, batched, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
