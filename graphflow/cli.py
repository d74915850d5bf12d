"""``graphflow`` command line: validate, graph, run, stats, calculators, schema, models, record, replay, info.

Errors print one line (file:line, node, what to do) and exit 2 for bad input, 1 for a failure while running;
``--traceback`` (or GRAPHFLOW_TRACEBACK=1) shows the Python traceback too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from .cli_flags import add_run_flags, app_runner_flags, needs_app_runner, refuse_inapplicable
from .errors import ConfigError, GraphError, GraphflowError
from .progress import EngineProgress


def _kv(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} '{item}' is not KEY=VALUE", hint=f"write e.g. {what} threshold=0.5")
        try:
            out[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            out[key] = value
    return out


ALLOW_IMPORT_HELP = ("permit 'MODULE:Class' calculators from MODULE (or a package above it); a graph file cannot "
                     "permit imports itself (repeatable)")


def _allow_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-import", action="append", default=[], metavar="MODULE", dest="allow_imports",
                   help=ALLOW_IMPORT_HELP)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphflow", description="Run and inspect graphflow YAML graphs.")
    p.add_argument("--traceback", action="store_true", help="show Python tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check graph files without running them")
    v.add_argument("graphs", nargs="+", type=Path)
    v.add_argument("-O", "--option", action="append", metavar="K=V", help="graph option")
    _allow_import(v)

    g = sub.add_parser("graph", help="draw a graph (.dot, .mmd; .svg/.png with Graphviz)")
    g.add_argument("graph", type=Path)
    g.add_argument("-o", "--output", type=Path, required=True)
    g.add_argument("-O", "--option", action="append", metavar="K=V")
    _allow_import(g)

    for name, helptext in (("run", "run a graph"), ("stats", "run a graph and print per-node statistics")):
        r = sub.add_parser(name, help=helptext)
        r.add_argument("graph", type=Path)
        r.add_argument("--side", action="append", metavar="K=V", help="input side packet")
        r.add_argument("-O", "--option", action="append", metavar="K=V", help="graph option")
        _allow_import(r)
        r.add_argument("--input", help="camera index (0), video file, URL, image folder or glob")
        r.add_argument("--output", help="write the rendered video (e.g. out.mp4)")
        r.add_argument("--show", action="store_true", help="show the rendered frames in a window")
        r.add_argument("--jsonl", help="write structured results as JSON Lines")
        r.add_argument("--max-frames", type=int, default=0)
        r.add_argument("--loop", action="store_true", help="loop a video file")
        r.add_argument("--stats", action="store_true", default=(name == "stats"), help="print stats at the end")
        r.add_argument("--stats-json", type=Path, help="write stats as JSON")
        r.add_argument("--trace", type=Path, help="write a Chrome/Perfetto trace of the whole run")
        r.add_argument("--executor", choices=["threads", "inline", "ray"], default=None,
                       help="threads (default), inline, or ray: each group in its own actor (overrides the YAML)")
        r.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
        add_run_flags(r)

    sub.add_parser("calculators", help="list the calculators graphs can name")
    s = sub.add_parser("schema", help="print the JSON Schema of graph files")
    s.add_argument("-o", "--output", type=Path)
    from .record.commands import add_parsers as add_record_parsers  # record, replay, info (MCAP recordings)

    add_record_parsers(sub, lambda q: q.add_argument("-O", "--option", action="append", metavar="K=V"))
    m = sub.add_parser("models", help="fetch/list model weights (see `graphflow models --help`)", add_help=False)
    m.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["models"]:  # the model store has its own argument parser
        store = importlib.import_module("calculators.model_store")
        return int(store.main(argv[1:]))
    args = _parser().parse_args(argv)
    show_tb = args.traceback or os.environ.get("GRAPHFLOW_TRACEBACK") == "1"
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("graphflow: interrupted", file=sys.stderr)
        return 130
    except (GraphflowError, KeyError, ValueError, RuntimeError, OSError) as exc:
        if show_tb:
            raise
        prefix = "graphflow: error while running: " if isinstance(exc, GraphError) else "graphflow: "
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(prefix + str(msg), file=sys.stderr)
        if isinstance(exc, GraphError) and exc.__cause__ is not None:
            print("  (run with --traceback for the Python traceback)", file=sys.stderr)
        return 1 if isinstance(exc, GraphError) else 2


def _dispatch(args: argparse.Namespace) -> int:
    from .config import load_graph
    from .validate import validate

    if args.command == "validate":
        bad = 0
        for path in args.graphs:
            try:
                graph = validate(load_graph(path, _kv(args.option, "-O"), args.allow_imports))
                print(f"{path}: ok ({len(graph.nodes)} nodes, {len(graph.producers)} streams)")
            except ConfigError as exc:
                print(str(exc), file=sys.stderr)
                bad += 1
        return 2 if bad else 0
    if args.command == "graph":
        from .export import write

        out = write(validate(load_graph(args.graph, _kv(args.option, "-O"), args.allow_imports)), args.output)
        print(f"wrote {out}")
        return 0
    if args.command == "calculators":
        from .registry import known_names, resolve

        for name in known_names():
            try:
                summary = resolve(name).summary()
            except Exception as exc:  # noqa: BLE001 - a broken optional package must not hide the others
                summary = f"(cannot import: {exc})"
            print(f"{name:28s} {summary}")
        return 0
    if args.command == "schema":
        from .schema import graph_schema

        text = json.dumps(graph_schema(), indent=2)
        if args.output:
            args.output.write_text(text + "\n")
        else:
            print(text)
        return 0
    if args.command in ("run", "stats"):
        return _run(args)
    if args.command in ("record", "replay", "info"):
        from .record.commands import run as run_record_command

        return run_record_command(args, _kv(getattr(args, "option", None), "-O"))
    raise AssertionError(args.command)


def _run(args: argparse.Namespace) -> int:
    from .config import load_graph
    from .graph import Graph

    options = _kv(args.option, "-O")
    side = _kv(args.side, "--side")
    spec_executor = load_graph(args.graph, options, args.allow_imports).executor
    executor = args.executor or (spec_executor.type if spec_executor else "threads")
    if executor == "ray":  # the Ray executor lives outside the engine and is imported only when asked for
        graph: Any = importlib.import_module("graphflow.distributed").ray_graph(
            args.graph, trace=args.trace, allow_imports=args.allow_imports, **options)
    else:
        graph = Graph.from_yaml(args.graph, executor=executor, trace=args.trace, allow_imports=args.allow_imports,
                                **options)
    uses_media = needs_app_runner(args, graph)
    refuse_inapplicable(args, graph)
    if uses_media and executor == "ray":
        print("graphflow: --executor ray runs graphs without media inputs; a run with --input/--output/--show/--jsonl "
              "(or an 'image' input) uses one process: drop --executor ray", file=sys.stderr)
        return 2
    if uses_media:  # frames come from a source the app runner adds; it prints its own errors/progress
        app = importlib.import_module("calculators.io.app")
        return int(app.run_app(args.graph, input=args.input, output=args.output, show=args.show, jsonl=args.jsonl,
                               side=side, options=options, max_frames=args.max_frames, loop=args.loop,
                               allow_imports=args.allow_imports, **{**app_runner_flags(args), "executor": executor}))
    try:
        with EngineProgress(graph, enabled=not args.quiet):
            stats = graph.run(side, timeout=args.timeout)
    except KeyboardInterrupt:
        print("graphflow: stopping: sources end, packets in flight drain (Ctrl-C again to abandon)...",
              file=sys.stderr)
        try:
            graph.stop(timeout=10.0)
        except KeyboardInterrupt:
            graph.cancel()
        except GraphflowError as exc:
            print(f"graphflow: while stopping: {exc}", file=sys.stderr)
        raise
    except GraphflowError:
        graph.cancel()  # e.g. --timeout: every opened node still gets its close()
        raise
    from .run_report import write_run_reports

    write_run_reports(stats, print_table=args.stats, stats_json=args.stats_json, trace=args.trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
