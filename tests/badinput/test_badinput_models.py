"""Bad weight files: a wrong-hash or truncated MediaPipe model, a truncated cached state dict, a torchvision
Mask R-CNN checkpoint with missing/unexpected/reshaped keys or a truncated file, a checkpoint that pickles code, and
a damaged CAM checkpoint. Each is one ``ValueError``/``ModelStoreError`` line naming the file and what to do."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from calculators import model_store
from calculators.cam import efficientnet_lite
from calculators.common.checkpoints import check_state_dict, read_state_dict
from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig
from calculators.model_store import ModelStoreError

torch.set_num_threads(1)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 600, text
    return text


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv(model_store.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.delenv(model_store.WHEEL_ENV, raising=False)
    return model_store.models_dir()


def test_a_wrong_hash_model_file_is_refused_and_nothing_is_cached(tmp_path, empty_store):
    fake = tmp_path / "palm_detection_lite.tflite"
    fake.write_bytes(b"TFL3" + os.urandom(4096))
    with pytest.raises(ModelStoreError) as info:
        model_store.fetch(fake, names=["palm_detection_lite"])
    text = one_line(info.value)
    assert "has SHA-256" in text and "refusing it" in text and "graphflow models fetch" in text
    assert not model_store.is_cached("palm_detection_lite")


def test_a_truncated_cached_model_is_reported_as_corrupt(empty_store):
    real = Path("~/.cache/graphflow").expanduser() / "models" / f"mediapipe-{model_store.MEDIAPIPE_VERSION}"
    name = "palm_detection_lite"
    source = real / model_store._cached_tflite(name).name
    if not source.is_file():
        pytest.skip("the MediaPipe models are not in the default cache (run `graphflow models fetch`)")
    empty_store.mkdir(parents=True)
    (empty_store / source.name).write_bytes(source.read_bytes()[:5000])
    with pytest.raises(ModelStoreError) as info:
        model_store.tflite_path(name)
    assert "is corrupt (SHA-256 mismatch): run `graphflow models fetch --force`" in one_line(info.value)


def test_a_truncated_cached_state_dict_says_how_to_rebuild_it(empty_store):
    empty_store.mkdir(parents=True)
    cached = model_store._cached_state_dict("palm_detection_lite")
    torch.save({"w": torch.zeros(1000)}, cached)
    cached.write_bytes(cached.read_bytes()[:300])
    with pytest.raises(ModelStoreError) as info:
        model_store.load_palm_detector("lite")
    text = one_line(info.value)
    assert f"cannot read {cached}" in text and "graphflow models fetch --force" in text


# torchvision's ResNet-50-FPN names with slim heads: the same checkpoint layout at a third of the bytes
SLIM = {"fpn_channels": 32, "representation_size": 64, "mask_layers": (16,)}


@pytest.fixture(scope="module")
def maskrcnn_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return MaskRCNN(MaskRCNNConfig(num_classes=3, **SLIM)).state_dict()


def save(tmp_path: Path, name: str, obj: object) -> Path:
    path = tmp_path / f"{name}.pth"
    torch.save(obj, path)
    return path


def test_maskrcnn_checkpoint_with_missing_keys(tmp_path, maskrcnn_state):
    partial = {k: v for k, v in maskrcnn_state.items() if not k.startswith("roi_heads.mask")}
    path = save(tmp_path, "no_mask_head", partial)
    with pytest.raises(ValueError) as info:
        MaskRCNN.from_torchvision_checkpoint(path, **SLIM)
    text = one_line(info.value)
    dropped = len(maskrcnn_state) - len(partial)
    assert text.startswith(f"{path} does not fit MaskRCNN") and f"{dropped} missing (roi_heads.mask" in text


def test_unexpected_and_reshaped_keys_and_a_missing_class_head(maskrcnn_state):
    expected = maskrcnn_state
    state = {k: v for k, v in expected.items() if "box_predictor.cls_score" not in k}
    state["backbone.body.extra.weight"] = torch.zeros(3)
    state["backbone.body.conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(ValueError) as info:
        check_state_dict(state, expected, "MaskRCNN", "ckpt.pth")
    text = one_line(info.value)
    assert text.startswith("ckpt.pth does not fit MaskRCNN: 2 missing (roi_heads.box_predictor.cls_score")
    assert "1 unexpected (backbone.body.extra.weight)" in text
    assert "backbone.body.conv1.weight (64, 3, 3, 3) vs (64, 3, 7, 7)" in text


def test_a_training_script_checkpoint_loads_from_its_model_entry(tmp_path, maskrcnn_state):
    path = save(tmp_path, "train", {"model": maskrcnn_state, "epoch": 3})
    model = MaskRCNN.from_torchvision_checkpoint(path, **SLIM)
    assert not model.training and model.config.num_classes == 3  # read from the class head


@pytest.mark.parametrize("kind", ["truncated", "empty", "text", "list"])
def test_unreadable_or_foreign_checkpoint_files(tmp_path, maskrcnn_state, kind):
    path = tmp_path / f"{kind}.pth"
    if kind == "truncated":
        torch.save({k: maskrcnn_state[k] for k in list(maskrcnn_state)[:20]}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("<html>404 not found</html>")
    else:
        torch.save([1, 2, 3], path)
    with pytest.raises(ValueError) as info:
        MaskRCNN.from_torchvision_checkpoint(path)
    text = one_line(info.value)
    assert text.startswith(f"{path}: ")
    assert ("not a readable weights-only torch checkpoint" in text) if kind != "list" else ("holds list" in text)


class _Payload:
    """Unpickling this would create a file: a checkpoint that runs code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_pickles_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump({"weight": _Payload(str(marker))}, f, protocol=2)
    with pytest.raises(ValueError, match="not a readable weights-only torch checkpoint"):
        read_state_dict(path)
    with pytest.raises(ValueError, match="not a readable weights-only torch checkpoint"):
        MaskRCNN.from_torchvision_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "flipped_byte"])
def test_a_damaged_cam_checkpoint_fails_its_hash_check(tmp_path, damage):
    data = bytearray(efficientnet_lite.weights_path().read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 3]
    else:
        data[len(data) // 2] ^= 0xFF
    path = tmp_path / efficientnet_lite.WEIGHTS_FILE
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        efficientnet_lite.load_state_dict(path)
    assert f"{path}: SHA-256" in one_line(info.value) and "does not match the expected" in str(info.value)
