"""The MediaPipe Hands model store: fetch (PyPI, local wheel, directory, .tflite), SHA-256 refusal, one-line errors,
cached conversion, the ``graphflow models`` verbs, and the converter's name-table checks.

The first test uses the real store (``$GRAPHFLOW_HOME`` or ``~/.cache/graphflow``): on an empty cache it downloads
the mediapipe wheel from PyPI, as CI does. The others work in a temporary ``GRAPHFLOW_HOME`` and build small
wheels from the verified files.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from calculators import model_store
from calculators.hands.landmark_net import HandLandmarkNet
from calculators.hands.palm_net import PALM_CONFIGS, PalmDetector
from calculators.hands.tflite_convert import ConversionError, convert, name_tables
from calculators.model_store import MODELS, ModelStoreError


@pytest.fixture(scope="module")
def verified_files() -> dict[str, bytes]:
    """The four .tflite files from the real store (fetched from PyPI on an empty cache)."""
    paths = model_store.fetch()
    data = {name: path.read_bytes() for name, path in paths.items()}
    for name, blob in data.items():
        assert hashlib.sha256(blob).hexdigest() == MODELS[name].sha256, name
    return data


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("GRAPHFLOW_HOME", str(home))
    monkeypatch.delenv("GRAPHFLOW_MEDIAPIPE_WHEEL", raising=False)
    return home


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mediapipe/__init__.py", "")
        for name, blob in files.items():
            zf.writestr(MODELS[name].wheel_path, blob)
    return path


def _tampered(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 0xFF])


def test_real_store_loads_all_four_models(verified_files: dict[str, bytes]) -> None:
    torch.set_num_threads(1)
    for variant in ("lite", "full"):
        palm = model_store.load_palm_detector(variant)
        landmark = model_store.load_hand_landmark(variant)
        assert isinstance(palm, PalmDetector) and isinstance(landmark, HandLandmarkNet)
        for net in (palm, landmark):
            assert not net.training
            assert {p.dtype for p in net.parameters()} == {torch.float32}
        assert model_store.tflite_path(f"palm_detection_{variant}").read_bytes() == \
            verified_files[f"palm_detection_{variant}"]
    with pytest.raises(ValueError, match="variant"):
        model_store.load_palm_detector("heavy")


def test_fetch_from_local_wheel_converts_once(empty_home: Path, tmp_path: Path,
                                              verified_files: dict[str, bytes]) -> None:
    wheel = _wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", verified_files)
    paths = model_store.fetch(wheel)
    assert {p.parent for p in paths.values()} == {model_store.models_dir()}
    assert str(model_store.models_dir()).startswith(str(empty_home))
    for name, path in paths.items():
        assert path.read_bytes() == verified_files[name]
    net = model_store.load_hand_landmark("lite")
    cached = sorted(model_store.models_dir().glob("hand_landmark_lite-*-torch-v*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = model_store.load_hand_landmark("lite")  # from the cached state dict, not converted again
    assert cached[0].stat().st_mtime_ns == stamp
    for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_fetch_from_env_directory_and_single_tflite(empty_home: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    verified_files: dict[str, bytes]) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    for name, blob in verified_files.items():
        (folder / f"{name}.tflite").write_bytes(blob)
    monkeypatch.setenv("GRAPHFLOW_MEDIAPIPE_WHEEL", str(folder))
    assert model_store.tflite_path("palm_detection_full").read_bytes() == verified_files["palm_detection_full"]
    assert not model_store.is_cached("hand_landmark_full")  # fetched on demand, one file at a time
    monkeypatch.delenv("GRAPHFLOW_MEDIAPIPE_WHEEL")
    assert model_store.main(["fetch", "--from", str(folder / "hand_landmark_full.tflite")]) == 0
    assert model_store.is_cached("hand_landmark_full")


def test_wrong_hash_is_refused_with_one_line(empty_home: Path, tmp_path: Path,
                                             verified_files: dict[str, bytes]) -> None:
    files = dict(verified_files, palm_detection_lite=_tampered(verified_files["palm_detection_lite"]))
    wheel = _wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", files)
    with pytest.raises(ModelStoreError) as info:
        model_store.fetch(wheel)
    message = str(info.value)
    assert "\n" not in message and "palm_detection_lite" in message and "graphflow models fetch" in message
    assert not any(model_store.is_cached(n) for n in MODELS)  # nothing half-installed


def test_corrupt_cache_file_is_refused(empty_home: Path, tmp_path: Path, verified_files: dict[str, bytes]) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "hand_landmark_lite.tflite").write_bytes(verified_files["hand_landmark_lite"])
    path = model_store.fetch(folder, names=["hand_landmark_lite"])["hand_landmark_lite"]
    path.write_bytes(_tampered(verified_files["hand_landmark_lite"]))
    with pytest.raises(ModelStoreError, match="fetch --force"):
        model_store.tflite_path("hand_landmark_lite")


def test_no_network_gives_one_line_error(empty_home: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # pip with no index behaves like pip without network: nothing can be found
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(ModelStoreError) as info:
        model_store.load_palm_detector("lite")
    message = str(info.value)
    assert "\n" not in message and "pip download" in message and "graphflow models fetch --from" in message
    capsys.readouterr()
    assert model_store.main(["fetch"]) == 1
    announced, error = capsys.readouterr().err.splitlines()  # said before the download started, then why it failed
    assert "downloading mediapipe==0.10.21 from PyPI" in announced and "GRAPHFLOW_OFFLINE=1" in announced
    assert error.startswith("error: ")


def test_offline_switch_never_downloads(empty_home: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRAPHFLOW_OFFLINE", "1")
    ran: list[object] = []
    monkeypatch.setattr(model_store.subprocess, "run", lambda *a, **k: ran.append(a))
    with pytest.raises(ModelStoreError, match="GRAPHFLOW_OFFLINE=1 forbids downloading: run `graphflow models fetch` "
                                              "first"):
        model_store.load_hand_landmark("lite")
    assert model_store.main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GRAPHFLOW_OFFLINE=1" in err and "from PyPI" not in err
    assert ran == []


def test_an_unwritable_cache_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str],
                                                   verified_files: dict[str, bytes]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")  # as root, permissions do not stop writes: a file in the path does
    monkeypatch.setenv("GRAPHFLOW_HOME", str(blocker / "home"))
    wheel = _wheel(tmp_path / "mediapipe-0.10.21-py3-none-any.whl", verified_files)
    with pytest.raises(ModelStoreError, match=r"cannot write the model cache .*a_file/home.*set GRAPHFLOW_HOME"):
        model_store.fetch(wheel)
    assert model_store.main(["fetch", "--from", str(wheel)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "GRAPHFLOW_HOME" in err


def test_cli_list_and_path(empty_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           verified_files: dict[str, bytes]) -> None:
    assert model_store.main(["models", "path", "palm_detection_lite"]) == 1
    assert "graphflow models fetch" in capsys.readouterr().err
    wheel = _wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", verified_files)
    assert model_store.main(["fetch", "--from", str(wheel)]) == 0
    capsys.readouterr()
    assert model_store.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("tflite ok, torch ok") == 4
    assert model_store.main(["path"]) == 0
    assert capsys.readouterr().out.strip() == str(model_store.models_dir())
    assert model_store.main(["path", "hand_landmark_full"]) == 0
    assert Path(capsys.readouterr().out.strip()).read_bytes() == verified_files["hand_landmark_full"]


def test_converter_rejects_tables_that_do_not_fit(verified_files: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "palm_detection_lite.tflite"
    path.write_bytes(verified_files["palm_detection_lite"])
    net = PalmDetector(PALM_CONFIGS["lite"])
    table = dict(name_tables()["palm_detection_lite"])
    convert(path, "palm_detection_lite", net, table)  # the shipped table fits

    missing = dict(table)
    del missing["stem.bias"]
    with pytest.raises(ConversionError, match="missing"):
        convert(path, "palm_detection_lite", net, missing)

    wrong_role = dict(table)  # a PReLU slope taken from a conv bias of the same length (32)
    wrong_role["stem_act.weight"], wrong_role["stem.bias"] = table["stem.bias"], table["stem_act.weight"]
    with pytest.raises(ConversionError, match="is a (prelu|bias) but"):
        convert(path, "palm_detection_lite", net, wrong_role)

    wrong_shape = dict(table)  # two pointwise kernels of different widths swapped
    wrong_shape["stage1.0.pw.weight"], wrong_shape["stage2.0.pw.weight"] = (
        table["stage2.0.pw.weight"], table["stage1.0.pw.weight"])
    with pytest.raises(ConversionError, match="shape"):
        convert(path, "palm_detection_lite", net, wrong_shape)
