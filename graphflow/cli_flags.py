"""``graphflow run``/``stats`` flags beyond the engine's own: progress, the live view; and the rule that every
flag either applies on the path a run takes or is refused with one line saying why.

Two paths: an engine-only graph (no input streams, no media flags) runs through ``Graph.run``; anything with
media (``--input``/``--output``/``--show``/``--jsonl``/``--serve``, input streams, or the ``stop``/``display``
side packets a self-contained app graph asks for) runs through ``calculators.io.app.run_app``.
"""

from __future__ import annotations

import argparse
from typing import Any

from .errors import ConfigError

#: side packets only the app runner can provide (a stop event, the display queue)
APP_SIDE_PACKETS = ("stop", "display")
#: ``--serve-fps`` default (graphflow.serve.DEFAULT_SERVE_FPS; not imported from there to keep this module light)
SERVE_FPS_DEFAULT = 10.0


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar / progress lines")
    parser.add_argument("--serve", metavar="[HOST:]PORT", default=None,
                        help="serve a live view of the run (video, stats, topology, trace button) at this address; "
                             "127.0.0.1 unless HOST is given (open it from another machine with SSH port "
                             "forwarding); PORT 0 picks a free port")
    parser.add_argument("--serve-stream", metavar="STREAM", default=None,
                        help="the image stream the live view shows (default: the rendered frames)")
    parser.add_argument("--serve-fps", metavar="FPS", type=float, default=None,
                        help=f"frames a second the live view sends at most, for all browsers together (default "
                             f"{SERVE_FPS_DEFAULT:g}; 0: every frame the graph makes)")


def needs_app_runner(args: argparse.Namespace, graph: Any) -> bool:
    """Whether this run goes through ``run_app`` (media, a live view, or the app runner's side packets)."""
    declared = {name for name, _ in graph.spec.input_side_packets}
    return bool(args.input or args.output or args.show or args.jsonl or args.serve is not None
                or graph.spec.input_streams or declared & set(APP_SIDE_PACKETS))


def refuse_inapplicable(args: argparse.Namespace, graph: Any) -> None:
    """Raise ConfigError (one line, exit 2) for a flag that would do nothing on this path."""
    if args.serve_stream and args.serve is None:
        raise ConfigError("--serve-stream picks the stream of the live view: it needs --serve [HOST:]PORT")
    if args.serve_fps is not None:
        if args.serve is None:
            raise ConfigError("--serve-fps caps the frame rate of the live view: it needs --serve [HOST:]PORT")
        check_serve_fps(args.serve_fps)
    if (args.loop or args.max_frames) and not graph.spec.input_streams:
        raise ConfigError(f"--loop/--max-frames apply to the video source --input adds; {args.graph} has no input "
                          "streams (it brings its own source): set the source's options with -O instead")


def app_runner_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The ``run_app`` keyword arguments for the flags every path shares."""
    return {"executor": args.executor, "timeout": args.timeout, "trace": args.trace, "stats": args.stats,
            "stats_json": args.stats_json, "serve": args.serve, "serve_stream": args.serve_stream,
            "progress": not args.quiet,
            **({"serve_fps": args.serve_fps} if args.serve_fps is not None else {})}


def check_serve_fps(fps: float) -> float:
    """``--serve-fps``/``serve_fps=``: a finite number >= 0, else ConfigError."""
    if not (isinstance(fps, int | float) and 0 <= fps < float("inf")):
        raise ConfigError(f"--serve-fps {fps!r}: frames a second the live view sends at most, a number >= 0 "
                          "(0: every frame)")
    return float(fps)
