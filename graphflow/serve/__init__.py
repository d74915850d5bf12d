"""A live web view of a running graph: stats, topology, the newest frame, a trace button (``LiveServer``).

Imports nothing heavy until a server starts (aiohttp is imported in ``LiveServer.start``); image encoding lives
with the calculators (``calculators/io/live_view.py``), so this package stays free of OpenCV.
"""

from .address import DEFAULT_HOST, Address, is_loopback, parse_address
from .server import DEFAULT_SERVE_FPS, FrameSource, LiveServer, ServeError
from .topology import topology

__all__ = ["DEFAULT_HOST", "DEFAULT_SERVE_FPS", "Address", "FrameSource", "LiveServer", "ServeError", "is_loopback",
           "parse_address", "topology"]
