"""graphflow: a Python, MediaPipe-style streaming perception framework.

Calculators with typed ports exchange immutable, timestamped packets over streams; graphs are YAML files,
validated before anything runs; a scheduler with timestamp-synchronised inputs, bounded queues, flow control,
tracing and stats runs them. The engine imports neither torch nor OpenCV.
"""

from . import builtins as _builtins  # noqa: F401 - registers PassThrough, FlowLimiter, PreviousLoopback
from .calculator import Calculator, Context, NoOptions
from .errors import ConfigError, GraphError, GraphflowError, GraphTimeoutError, StopSource, TimestampError
from .graph import Graph
from .packet import Packet
from .ports import Input, Output, SideInput
from .registry import register_calculator
from .timestamp import Timestamp

__all__ = [
    "Calculator",
    "ConfigError",
    "Context",
    "Graph",
    "GraphError",
    "GraphTimeoutError",
    "GraphflowError",
    "Input",
    "NoOptions",
    "Output",
    "Packet",
    "SideInput",
    "StopSource",
    "Timestamp",
    "TimestampError",
    "register_calculator",
]
