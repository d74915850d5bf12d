"""Read a MediaPipe .tflite flatbuffer and turn its weights into a torch state dict through an explicit name table.

The four hand models store every weight as a float16 constant that a DEQUANTIZE op expands at load time; BatchNorm
is already folded into the conv biases. TFLite tensor names are unique in each file but not descriptive (the
converter fuses them, e.g. ``batch_normalization_4/FusedBatchNormV3;depthwise_conv2d_7/depthwise;conv2d_4/Conv2D``
is the bias of ``conv2d_4``), so ``tflite_names.json`` maps every torch parameter to the TFLite tensor it comes
from, by name. Conversion then checks, for every entry:

- the tensor exists and every op reading it fits the parameter's role (a depthwise kernel must feed
  DEPTHWISE_CONV_2D input 1, a bias input 2, a PReLU slope PRELU input 1, ...); a constant the TFLite converter
  deduplicated (the all-zero depthwise biases are shared by 4-11 ops) is mapped once per op that reads it;
- after the layout rule (``to_torch_layout``) its shape equals the parameter's shape;
- the table covers every parameter of the module and every float constant of the file, each exactly once.

Nothing is paired by enumeration order, so two same-shape tensors cannot be swapped silently. Names in the table
(and in error messages) drop the ``model_1/model/`` prefix the Keras export puts on every path.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import tflite
import torch
from tflite.BuiltinOperator import BuiltinOperator
from tflite.TensorType import TensorType
from torch import nn

NAME_TABLE_PATH = Path(__file__).with_name("tflite_names.json")
_PREFIX = "model_1/model/"
_OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
_FLOAT_TYPES = {TensorType.FLOAT16: np.float16, TensorType.FLOAT32: np.float32}

# role of a parameter -> the (op, input slot) that must consume its tensor
_ROLE_CONSUMERS: dict[str, set[tuple[str, int]]] = {
    "conv": {("CONV_2D", 1)},
    "depthwise": {("DEPTHWISE_CONV_2D", 1)},
    "bias": {("CONV_2D", 2), ("DEPTHWISE_CONV_2D", 2), ("FULLY_CONNECTED", 2)},
    "prelu": {("PRELU", 1)},
    "linear": {("FULLY_CONNECTED", 1)},
}


class ConversionError(ValueError):
    """The .tflite file and the torch module do not match the name table."""


def short_name(name: str) -> str:
    """A TFLite tensor name without the Keras ``model_1/model/`` prefix on each fused part."""
    return name.replace(_PREFIX, "")


@dataclass
class Constant:
    """A float constant of the graph (a weight), as float32, with the ops that read it."""

    name: str
    array: np.ndarray
    consumers: list[tuple[str, int]] = field(default_factory=list)  # (op name, input slot)


def _op_name(model: tflite.Model, op: tflite.Operator) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    # schema >= 2.4 keeps small codes in both fields and large ones only in BuiltinCode
    return _OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]


def _tensor_array(model: tflite.Model, tensor: tflite.Tensor) -> np.ndarray | None:
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None or buffer.DataLength() == 0 or tensor.Type() not in _FLOAT_TYPES:
        return None
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    return buffer.DataAsNumpy().view(_FLOAT_TYPES[tensor.Type()]).reshape(shape).astype(np.float32)


def read_constants(path: str | Path) -> dict[str, Constant]:
    """Float constants of subgraph 0 by short name; DEQUANTIZE ops are looked through (their fp16 input is the
    weight, their output's consumers are its consumers)."""
    model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    graph = model.Subgraphs(0)
    dequantized: dict[int, int] = {}  # DEQUANTIZE output tensor -> its constant input tensor
    ops = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    for op in ops:
        if _op_name(model, op) == "DEQUANTIZE":
            dequantized[int(op.Outputs(0))] = int(op.Inputs(0))
    constants: dict[int, Constant] = {}
    for op in ops:
        name = _op_name(model, op)
        if name == "DEQUANTIZE":
            continue
        for slot, index in enumerate(int(i) for i in op.InputsAsNumpy()):
            if index < 0:  # optional input left out
                continue
            index = dequantized.get(index, index)
            if index not in constants:
                tensor = graph.Tensors(index)
                array = _tensor_array(model, tensor)
                if array is None:
                    continue
                constants[index] = Constant(short_name(tensor.Name().decode()), array)
            constants[index].consumers.append((name, slot))
    by_name = {c.name: c for c in constants.values()}
    if len(by_name) != len(constants):
        raise ConversionError(f"{path}: constant tensor names are not unique")
    return by_name


def parameter_roles(module: nn.Module) -> dict[str, str]:
    """Role (conv, depthwise, bias, prelu, linear) of every parameter of ``module``, by state-dict name."""
    roles: dict[str, str] = {}
    for prefix, sub in module.named_modules():
        for pname, _ in sub.named_parameters(recurse=False):
            key = f"{prefix}.{pname}" if prefix else pname
            if pname == "bias":
                roles[key] = "bias"
            elif isinstance(sub, nn.Conv2d):
                depthwise = sub.groups > 1 and sub.groups == sub.in_channels == sub.out_channels
                roles[key] = "depthwise" if depthwise else "conv"
            elif isinstance(sub, nn.PReLU):
                roles[key] = "prelu"
            elif isinstance(sub, nn.Linear):
                roles[key] = "linear"
            else:
                raise ConversionError(f"no TFLite layout rule for {key} ({type(sub).__name__}.{pname})")
    return roles


def to_torch_layout(array: np.ndarray, role: str) -> np.ndarray:
    """The one place for TFLite -> torch layout rules.

    conv kernels OHWI -> OIHW; depthwise kernels 1HWC -> C1HW; PReLU slopes (1, 1, C) -> (C,);
    fully connected weights are already (out, in); biases are 1-D.
    """
    if role == "conv":
        return array.transpose(0, 3, 1, 2)
    if role == "depthwise":
        return array.transpose(3, 0, 1, 2)
    if role == "prelu":
        return array.reshape(-1)
    return array


@cache
def name_tables() -> dict[str, dict[str, str]]:
    """model name -> {torch parameter: short TFLite tensor name}, from ``tflite_names.json``."""
    with NAME_TABLE_PATH.open(encoding="utf-8") as f:
        return json.load(f)


def convert(path: str | Path, model_name: str, module: nn.Module,
            table: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    """State dict for ``module`` from the .tflite at ``path``, using the name table of ``model_name`` (or
    ``table``, {parameter: short tensor name}, when given).

    Raises ConversionError naming the first parameter or tensor that does not fit.
    """
    if table is None:
        try:
            table = name_tables()[model_name]
        except KeyError:
            raise ConversionError(f"no name table for {model_name!r} in {NAME_TABLE_PATH.name}") from None
    constants = read_constants(path)
    targets = module.state_dict()
    roles = parameter_roles(module)
    if set(roles) != set(targets):
        raise ConversionError(f"{model_name}: module has buffers besides parameters: {set(targets) - set(roles)}")
    missing, extra = sorted(set(targets) - set(table)), sorted(set(table) - set(targets))
    if missing or extra:
        raise ConversionError(f"{model_name}: table and module disagree: missing {missing[:3]}, extra {extra[:3]}")
    uses = Counter(table.values())
    unused = sorted(set(constants) - set(uses))
    if unused:
        raise ConversionError(f"{model_name}: {len(unused)} TFLite weights are not mapped, e.g. {unused[0]!r}")
    state: dict[str, torch.Tensor] = {}
    for key, tensor_name in table.items():
        if tensor_name not in constants:
            raise ConversionError(f"{model_name}: {key}: no float constant {tensor_name!r} in {path}")
        const, role = constants[tensor_name], roles[key]
        if not set(const.consumers) <= _ROLE_CONSUMERS[role]:
            raise ConversionError(f"{model_name}: {key} is a {role} but {tensor_name!r} feeds {const.consumers}")
        if uses[tensor_name] != len(const.consumers):  # a shared (deduplicated) constant: one param per reader
            raise ConversionError(f"{model_name}: {tensor_name!r} is read by {len(const.consumers)} ops "
                                  f"but mapped to {uses[tensor_name]} parameters")
        array = to_torch_layout(const.array, role)
        if tuple(array.shape) != tuple(targets[key].shape):
            raise ConversionError(f"{model_name}: {key}: TFLite {tensor_name!r} has shape {const.array.shape}, "
                                  f"{tuple(array.shape)} after layout, the module wants {tuple(targets[key].shape)}")
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
    return state
