"""Model store for the MediaPipe Hands networks: fetch the .tflite files, verify them, convert them to torch once.

The four models ship in the ``mediapipe==0.10.21`` wheel (Apache-2.0). The store downloads that wheel with
``pip download`` (any Python, any OS: it asks for the manylinux cp311 wheel explicitly, and the model files are the
same in every wheel), extracts the four files with ``zipfile``, checks their SHA-256 against ``MODELS`` and refuses
anything else. Converted state dicts are cached next to them, keyed by the .tflite SHA-256 and the converter
version. mediapipe is never imported or installed.

Cache: ``$GRAPHFLOW_HOME/models/mediapipe-0.10.21/`` (default ``~/.cache/graphflow``). Instead of PyPI, the files
can come from a local wheel, a directory holding the wheel or the ``.tflite`` files, or one ``.tflite`` file:
``graphflow models fetch --from PATH`` or ``GRAPHFLOW_MEDIAPIPE_WHEEL=PATH``. Every failure is a one-line
``ModelStoreError`` that says what to run (an unwritable cache too: it names the directory and GRAPHFLOW_HOME).

Network: a download from PyPI is announced on stderr before it starts (it can take minutes). With
``GRAPHFLOW_OFFLINE=1`` the store never downloads: an empty cache is an error saying to run ``graphflow models
fetch`` first (where there is network) or to fetch from a local file.

Exported models: ``graphflow models fetch`` also exports each converted torch module to ONNX
(``calculators/hands/onnx_export.py``; read by the ``onnxruntime`` and ``openvino`` backends) into the same cache.
The export is deterministic; its SHA-256 is recorded in a ``.sha256`` file next to it, shown by ``graphflow models
list`` beside the .tflite hash, and checked on every load. Nothing exported is downloaded.

Public API: ``load_palm_detector(variant)``, ``load_hand_landmark(variant)``, ``tflite_path(name)``, ``fetch()``,
``onnx_path(name)``, ``compile_for_cpu_inference(net, example)`` (opt-in speed-up), and ``main(argv)`` behind
``graphflow models fetch|list|path``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from graphflow.errors import GraphflowError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from calculators.hands.landmark_net import HandLandmarkNet
    from calculators.hands.palm_net import PalmDetector

MEDIAPIPE_VERSION = "0.10.21"
CONVERTER_VERSION = 1  # bump when tflite_convert's output changes: cached state dicts are keyed by it
PIP_TIMEOUT_S = 600
WHEEL_ENV = "GRAPHFLOW_MEDIAPIPE_WHEEL"
HOME_ENV = "GRAPHFLOW_HOME"
OFFLINE_ENV = "GRAPHFLOW_OFFLINE"
FETCH_HINT = f"run `graphflow models fetch` (or `graphflow models fetch --from mediapipe-{MEDIAPIPE_VERSION}-*.whl`)"


@dataclass(frozen=True)
class ModelFile:
    """One .tflite file of the wheel."""

    wheel_path: str  # path inside the wheel
    sha256: str


MODELS: dict[str, ModelFile] = {
    "palm_detection_lite": ModelFile("mediapipe/modules/palm_detection/palm_detection_lite.tflite",
                                     "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"),
    "palm_detection_full": ModelFile("mediapipe/modules/palm_detection/palm_detection_full.tflite",
                                     "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"),
    "hand_landmark_lite": ModelFile("mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
                                    "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6"),
    "hand_landmark_full": ModelFile("mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
                                    "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3"),
}
VARIANTS = ("lite", "full")


class ModelStoreError(GraphflowError):
    """A model file is missing, cannot be fetched, or is not the expected one. The message is one line."""


def home() -> Path:
    """The graphflow cache root: ``$GRAPHFLOW_HOME`` or ``~/.cache/graphflow``."""
    return Path(os.environ.get(HOME_ENV) or "~/.cache/graphflow").expanduser()


def models_dir() -> Path:
    return home() / "models" / f"mediapipe-{MEDIAPIPE_VERSION}"


def _check_name(name: str) -> ModelFile:
    if name not in MODELS:
        raise ModelStoreError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def _cached_tflite(name: str) -> Path:
    return models_dir() / f"{name}-{_check_name(name).sha256[:16]}.tflite"


def _cached_state_dict(name: str) -> Path:
    return models_dir() / f"{name}-{_check_name(name).sha256[:16]}-torch-v{CONVERTER_VERSION}.pt"


def offline() -> bool:
    """Whether ``GRAPHFLOW_OFFLINE`` forbids downloads (1/true/yes)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def _ensure_writable(directory: Path) -> None:
    """Create the cache directory, or say in one line why it cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-")
        probe.close()
    except OSError as exc:
        why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ModelStoreError(f"cannot write the model cache {directory} ({why}): set {HOME_ENV} to a writable "
                              "directory, e.g. GRAPHFLOW_HOME=/tmp/graphflow") from None


def _cached_onnx(name: str) -> Path:
    from calculators.hands.onnx_export import EXPORT_VERSION

    stem = f"{name}-{_check_name(name).sha256[:16]}-torch-v{CONVERTER_VERSION}"
    return models_dir() / f"{stem}-onnx-v{EXPORT_VERSION}.onnx"


def _onnx_hash_file(name: str) -> Path:
    """Where the export's SHA-256 is recorded, next to the file."""
    return _cached_onnx(name).with_suffix(".onnx.sha256")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, write: object) -> None:
    """Write through a temporary file in the same directory and rename it into place (safe with concurrent
    fetches: both write identical content). ``write`` is bytes or a callable taking the temporary path."""
    _ensure_writable(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        _ensure_writable(path.parent)  # says why in one line
        raise
    try:
        if isinstance(write, bytes):
            with os.fdopen(fd, "wb") as f:
                f.write(write)
        else:
            os.close(fd)
            write(Path(tmp))  # type: ignore[operator]
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared like any download
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _verified(name: str, data: bytes, origin: str) -> bytes:
    got, want = sha256_bytes(data), MODELS[name].sha256
    if got != want:
        raise ModelStoreError(f"{name} from {origin} has SHA-256 {got[:16]}..., expected {want[:16]}... "
                              f"(mediapipe=={MEDIAPIPE_VERSION}); refusing it: {FETCH_HINT}")
    return data


# --- sources --------------------------------------------------------------------------------------------------


def _read_from_wheel(wheel: Path, names: list[str]) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = set(zf.namelist())
            absent = [n for n in names if MODELS[n].wheel_path not in members]
            if absent:
                raise ModelStoreError(f"{wheel} has no {MODELS[absent[0]].wheel_path}; it is not the "
                                      f"mediapipe=={MEDIAPIPE_VERSION} wheel: {FETCH_HINT}")
            return {n: _verified(n, zf.read(MODELS[n].wheel_path), str(wheel)) for n in names}
    except zipfile.BadZipFile:
        raise ModelStoreError(f"{wheel} is not a wheel (zip) file: {FETCH_HINT}") from None


def _read_from_path(source: Path, names: list[str]) -> dict[str, bytes]:
    """From a wheel, a ``.tflite`` file, or a directory with the wheel or the ``.tflite`` files (searched
    recursively, so an unpacked wheel works too)."""
    if not source.exists():
        raise ModelStoreError(f"{source} does not exist: {FETCH_HINT}")
    if source.is_file() and source.suffix == ".tflite":
        if source.stem not in names:
            raise ModelStoreError(f"{source.name} is not one of {', '.join(names)}: {FETCH_HINT}")
        return {source.stem: _verified(source.stem, source.read_bytes(), str(source))}
    if source.is_file():
        return _read_from_wheel(source, names)
    found: dict[str, bytes] = {}
    for name in names:
        hits = sorted(source.rglob(f"{name}.tflite"))
        if hits:
            found[name] = _verified(name, hits[0].read_bytes(), str(hits[0]))
    rest = [n for n in names if n not in found]
    if rest:
        wheels = sorted(source.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
        if not wheels:
            raise ModelStoreError(f"{source} holds neither {rest[0]}.tflite nor mediapipe-{MEDIAPIPE_VERSION}-*.whl: "
                                  f"{FETCH_HINT}")
        found.update(_read_from_wheel(wheels[0], rest))
    return found


def _pip_download(dest: Path) -> Path:
    """Download the mediapipe wheel (no dependencies) into ``dest`` with the running interpreter's pip."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
           "--disable-pip-version-check", "--quiet", "-d", str(dest), f"mediapipe=={MEDIAPIPE_VERSION}"]
    manual = (f"download mediapipe-{MEDIAPIPE_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl where there is network "
              f"and run `graphflow models fetch --from PATH` (or set {WHEEL_ENV}=PATH)")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelStoreError(f"`pip download mediapipe=={MEDIAPIPE_VERSION}` failed ({exc}); {manual}") from None
    wheels = sorted(dest.glob("mediapipe-*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        raise ModelStoreError(f"`pip download mediapipe=={MEDIAPIPE_VERSION}` failed ({why}); {manual}")
    return wheels[0]


# --- public API -----------------------------------------------------------------------------------------------


def is_cached(name: str) -> bool:
    return _cached_tflite(name).is_file()


def fetch(source: str | Path | None = None, *, force: bool = False,
          names: list[str] | None = None) -> dict[str, Path]:
    """Make sure the .tflite files ``names`` (default: all four) are in the cache, verified; return their paths.

    ``source``: a wheel, a ``.tflite`` file or a directory; default ``$GRAPHFLOW_MEDIAPIPE_WHEEL``, else PyPI
    through ``pip download``. ``force`` re-fetches files already cached.
    """
    names = list(MODELS) if names is None else names
    for name in names:
        _check_name(name)
    todo = [n for n in names if force or not is_cached(n)]
    if todo:
        source = source or os.environ.get(WHEEL_ENV) or None
        if source is not None:
            data = _read_from_path(Path(source).expanduser(), todo)
        else:
            if offline():
                raise ModelStoreError(
                    f"{todo[0]} is not in the model cache {models_dir()} and {OFFLINE_ENV}=1 forbids downloading: "
                    f"run `graphflow models fetch` first where there is network (or `graphflow models fetch --from "
                    f"mediapipe-{MEDIAPIPE_VERSION}-*.whl`)")
            _ensure_writable(models_dir())  # before minutes of download, not after
            print(f"graphflow: the hand models are not cached yet: downloading mediapipe=={MEDIAPIPE_VERSION} "
                  f"from PyPI with pip (can take minutes, at most {PIP_TIMEOUT_S} s) into {models_dir()}; "
                  f"set {OFFLINE_ENV}=1 to refuse, or run `graphflow models fetch --from PATH`", file=sys.stderr,
                  flush=True)
            with tempfile.TemporaryDirectory(prefix="graphflow-mediapipe-") as tmp:
                data = _read_from_wheel(_pip_download(Path(tmp)), todo)
        absent = [n for n in todo if n not in data]
        if absent:
            raise ModelStoreError(f"{source} does not provide {absent[0]}: {FETCH_HINT}")
        for name, blob in data.items():
            _write_atomic(_cached_tflite(name), blob)
    return {n: _cached_tflite(n) for n in names}


def tflite_path(name: str) -> Path:
    """Path of the verified .tflite ``name`` (e.g. ``"palm_detection_lite"``), fetching it on first use."""
    path = _cached_tflite(name)
    if not path.is_file():
        fetch(names=[name])
    data = path.read_bytes()
    if sha256_bytes(data) != MODELS[name].sha256:
        raise ModelStoreError(f"cached {path} is corrupt (SHA-256 mismatch): run `graphflow models fetch --force`")
    return path


def _state_dict(name: str, module: nn.Module) -> dict:
    """The converted state dict of ``name`` for ``module``, converting and caching it on first use."""
    import torch

    from calculators.hands.tflite_convert import convert

    cached = _cached_state_dict(name)
    if not cached.is_file():
        state = convert(tflite_path(name), name, module)
        _write_atomic(cached, lambda tmp: torch.save(state, tmp))
    try:
        return torch.load(cached, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say how to rebuild it
        raise ModelStoreError(f"cannot read {cached} ({type(exc).__name__}); delete it or run "
                              f"`graphflow models fetch --force`") from exc


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def load_palm_detector(variant: str = "lite") -> PalmDetector:
    """MediaPipe's palm detector ``palm_detection_{variant}`` with its weights, in eval mode, float32, CPU."""
    from calculators.hands.palm_net import PALM_CONFIGS, PalmDetector

    _check_variant(variant)
    net = PalmDetector(PALM_CONFIGS[variant])
    net.load_state_dict(_state_dict(f"palm_detection_{variant}", net), strict=True)
    return net.eval()


def load_hand_landmark(variant: str = "lite") -> HandLandmarkNet:
    """MediaPipe's hand landmark model ``hand_landmark_{variant}`` with its weights, in eval mode, float32, CPU."""
    from calculators.hands.landmark_net import LANDMARK_CONFIGS, HandLandmarkNet

    _check_variant(variant)
    net = HandLandmarkNet(LANDMARK_CONFIGS[variant])
    net.load_state_dict(_state_dict(f"hand_landmark_{variant}", net), strict=True)
    return net.eval()


def compile_for_cpu_inference(net: nn.Module, example: torch.Tensor) -> nn.Module:
    """Opt-in ``torch.compile`` of a loaded model for fixed-size CPU inference; returns the compiled module.

    Compiles now, on ``example`` (e.g. ``torch.zeros(1, 3, 192, 192)``), with inductor's weight freezing on, so
    convolution weights are folded and prepacked for oneDNN: 1.3-2x faster than eager on this project's CPU
    benchmark (``benchmarks/hand_models.py --compile``), same outputs to 1e-4. Costs 5-60 s once per process and
    needs a C++ compiler. Call the result under ``torch.inference_mode()``; another input shape recompiles
    (without freezing, hence slower).
    """
    import torch
    import torch._inductor.config as inductor_config

    compiled = torch.compile(net, dynamic=False)
    with torch.inference_mode(), inductor_config.patch(freezing=True):
        compiled(example)
    return compiled


def onnx_path(name: str) -> Path:
    """Path of the ONNX export of model ``name``, exporting it from the converted torch module on first use
    (``graphflow models fetch`` does it ahead of time). The file's SHA-256 must match the one recorded at export."""
    from calculators.hands.onnx_export import export_onnx

    path, record = _cached_onnx(name), _onnx_hash_file(name)
    if not (path.is_file() and record.is_file()):
        data = export_onnx(load_model(name), name.rsplit("_", 1)[0])
        _write_atomic(path, data)
        _write_atomic(record, f"{sha256_bytes(data)}  {path.name}\n".encode())
    want = record.read_text().split()[0]
    if sha256_bytes(path.read_bytes()) != want:
        raise ModelStoreError(f"cached {path} does not match the SHA-256 recorded at export ({want[:16]}...): "
                              f"delete it or run `graphflow models fetch --force`")
    return path


def onnx_sha256(name: str) -> str | None:
    """The recorded SHA-256 of ``name``'s ONNX export, or None if it has not been exported."""
    record = _onnx_hash_file(name)
    return record.read_text().split()[0] if record.is_file() else None


_LOADERS = {"palm_detection": load_palm_detector, "hand_landmark": load_hand_landmark}


def load_model(name: str) -> nn.Module:
    """Load a model by its file name, e.g. ``"hand_landmark_full"``."""
    _check_name(name)
    family, variant = name.rsplit("_", 1)
    return _LOADERS[family](variant)


# --- CLI: graphflow models fetch|list|path --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphflow models", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    f = sub.add_parser("fetch", help="download/verify the .tflite files, convert them to torch, export to ONNX")
    f.add_argument("--from", dest="source", metavar="PATH",
                   help=f"a mediapipe-{MEDIAPIPE_VERSION} wheel, a .tflite file or a directory (default: PyPI)")
    f.add_argument("--force", action="store_true", help="fetch and convert again even if cached")
    sub.add_parser("list", help="list the models and what is cached")
    pp = sub.add_parser("path", help="print the cache directory, or a model's .tflite path")
    pp.add_argument("name", nargs="?", choices=list(MODELS))
    return p


def main(argv: list[str]) -> int:
    """``graphflow models fetch|list|path``; ``argv`` are the words after ``models``. Returns the exit status."""
    if argv and argv[0] == "models":
        argv = argv[1:]
    args = _parser().parse_args(argv)
    try:
        if args.verb == "fetch":
            names = list(MODELS)
            if args.source is not None and Path(args.source).suffix == ".tflite":
                names = [Path(args.source).stem]
            paths = fetch(args.source, force=args.force, names=names)
            for name, path in paths.items():
                if args.force:
                    for stale in (_cached_state_dict(name), _cached_onnx(name), _onnx_hash_file(name)):
                        stale.unlink(missing_ok=True)
                load_model(name)
                onnx = onnx_path(name)
                print(f"{name}: {path} (torch: {_cached_state_dict(name).name}; onnx: {onnx.name}, "
                      f"sha256 {onnx_sha256(name)[:16]})")
        elif args.verb == "list":
            print(f"cache: {models_dir()}")
            for name, model in MODELS.items():
                tfl = "tflite ok" if is_cached(name) else "not fetched"
                pt = ", torch ok" if _cached_state_dict(name).is_file() else ""
                exported = onnx_sha256(name)
                onnx = f", onnx sha256 {exported[:16]}" if exported else ""
                print(f"{name:22s} sha256 {model.sha256[:16]}  {tfl}{pt}{onnx}")
        else:
            if args.name is None:
                print(models_dir())
            elif not is_cached(args.name):
                raise ModelStoreError(f"{args.name} is not fetched yet: {FETCH_HINT}")
            else:
                print(tflite_path(args.name))
    except ModelStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
