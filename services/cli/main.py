"""The gossipsim command line: ``gossipsim run SPEC`` (embedded mode), ``serve`` (one service
of a deployment), and the commands that talk to a deployment: ``submit``, ``status``,
``results``, ``report``, ``cancel`` and ``dead-letters``.

Exit codes: 0 success, 1 the simulation failed (some runs failed, or the services did) or a
deployment command could not do its work (no broker, no store, not completed yet), 2 the
input is invalid (a spec, an argument, a setting; nothing ran).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson

from gossipsim.cli.deployment import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_deployment_commands,
)
from gossipsim.cli.report_command import add_report_command
from gossipsim.cli.spec_input import read_spec
from gossipsim.cli.submit import add_submit_command
from gossipsim.common.errors import InvalidInput
from gossipsim.common.runtime.logging import configure_logging


def _progress_printer(stream: Any) -> Any:
    """A bar redrawn in place on a terminal; elsewhere (a log file, CI) one line each time a
    run finishes, since a redrawn bar there is a line every 0.2 s."""
    in_place = stream.isatty()
    shown = -1

    def show(done: int, total: int, rounds: int, elapsed: float) -> None:
        nonlocal shown
        if not in_place and done == shown:
            return
        shown = done
        rate = rounds / elapsed if elapsed > 0 else 0.0
        width = 30
        filled = int(width * done / total) if total else width
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs  {rate:,.0f} rounds/s"
        stream.write(f"\r{bar}" if in_place else f"{bar}\n")
        stream.flush()

    return show


def _wants_progress(args: argparse.Namespace) -> bool:
    """--progress forces the bar, --quiet and --json leave it out; otherwise only on a
    terminal, so that a redirected run's stderr holds only what went wrong."""
    if args.progress or args.quiet:
        return bool(args.progress)
    return not args.json and sys.stderr.isatty()


def _table(averaged_csv: Path) -> str:
    """Per configuration: how many runs converged, and rounds to convergence over those only
    (mean, median, 95% confidence interval, min, max); one that never converged says so."""
    rows = list(csv.DictReader(io.StringIO(averaged_csv.read_text())))
    if not rows:
        return "(no runs)"
    params = [c for c in rows[0] if c.startswith("param_")]
    header = ["graph", "algorithm", *params, "runs", "converged", "mean", "median", "95% CI"]
    header += ["min", "max"]
    lines = [header]
    for row in rows:
        converged, runs = int(row["converged"]), int(row["runs"])
        share = f"{converged}/{runs}"
        if converged == 0:
            stats = ["NEVER CONVERGED", "-", "-", "-", "-"]
        else:
            stats = [
                _number(row["mean_rounds"]),
                _number(row["median_rounds"]),
                _interval(row["ci95_low"], row["ci95_high"]),
                row["min_rounds"],
                row["max_rounds"],
            ]
        lines.append([row["graph"], row["algorithm"], *(row[p] for p in params), str(runs)])
        lines[-1] += [share, *stats]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines
    )


def _number(text: str) -> str:
    value = float(text) if text not in ("", "nan") else math.nan
    return "-" if math.isnan(value) else f"{value:.2f}"


def _interval(low: str, high: str) -> str:
    shown = (_number(low), _number(high))
    return "-" if "-" in shown else f"{shown[0]}..{shown[1]}"


def command_run(args: argparse.Namespace) -> int:
    from gossipsim.common.runtime.settings import graph_limits, local_graph_inputs, max_shards
    from gossipsim.embedded import plain_reason, run_embedded

    spec = read_spec(args)
    if spec is None:
        return EXIT_INVALID
    try:
        inputs = local_graph_inputs(os.environ)  # any local file, GOSSIPSIM_MAX_FILE_BYTES
        limits, shards_cap = graph_limits(os.environ), max_shards(os.environ)
    except ValueError as error:
        print(f"invalid setting: {error}", file=sys.stderr)
        return EXIT_INVALID
    stored = _stored_simulation(Path(args.out), spec, rerun=args.rerun)
    if stored is not None:
        return _show_stored(stored, args)
    progress = _progress_printer(sys.stderr) if _wants_progress(args) else None
    outcome = asyncio.run(
        run_embedded(
            spec,
            out_dir=Path(args.out),
            graphs_dir=Path(args.graphs) if args.graphs else None,
            base_dir=Path(args.spec).resolve().parent,
            runners=args.runners,
            progress=progress,
            inputs=inputs,
            limits=limits,
            max_shards=shards_cap,
        )
    )
    if progress is not None and sys.stderr.isatty():
        sys.stderr.write("\n")  # end the bar's line
    if outcome.rejection is not None:
        if args.json:
            print(
                orjson.dumps(
                    {
                        "simulation_id": outcome.simulation_id,
                        "status": "rejected",
                        "field": outcome.rejection.field,
                        "reason": outcome.rejection.reason,
                    }
                ).decode()
            )
        else:
            print(f"invalid spec: {outcome.rejection.reason}", file=sys.stderr)
        return EXIT_INVALID
    state = outcome.state
    assert state is not None
    location = Path(outcome.location)
    failed = _runs_failed(location, state.count_failed())
    for warning in state.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(
            orjson.dumps(
                {
                    "simulation_id": outcome.simulation_id,
                    "status": "failed" if failed else "completed",
                    "runs_total": len(state.plans),
                    "runs_failed": failed,
                    "results": str(location),
                }
            ).decode()
        )
    else:
        if not args.quiet:
            print(_table(location / "averaged.csv") + "\n")
        print(f"{len(state.plans)} runs, {failed} failed. Results: {location}")
        for run_id, reason in sorted(state.errors.items())[:5]:
            print(f"  failed {run_id}: {plain_reason(reason)}", file=sys.stderr)
        if failed > state.count_failed():
            lost = failed - state.count_failed()
            print(
                f"  {lost} run(s) finished but their results were lost before they could be"
                " stored: counted as failed",
                file=sys.stderr,
            )
    return EXIT_FAILED if failed else EXIT_OK


def _stored_simulation(out: Path, spec: dict[str, Any], *, rerun: bool) -> Path | None:
    """The completed results of this very spec under ``out``, unless ``rerun`` removes them.

    The simulation id is a digest of the spec, so running a spec again is the same simulation,
    whose completed results the collector never rewrites: its runs would be made and thrown
    away. They are shown instead; ``--rerun`` (a graph file changed, or the code) replaces
    them."""
    from gossipsim.common.contracts import results_layout as layout
    from gossipsim.common.spec.simulation_spec import simulation_id_for

    try:
        simulation_id = simulation_id_for(spec)
    except InvalidInput:
        return None  # an unusable name: the check reports it
    folder = out / layout.SIMULATIONS / simulation_id
    if not (folder / layout.MANIFEST).is_file():
        return None
    if rerun:
        shutil.rmtree(folder)
        return None
    return folder


def _show_stored(folder: Path, args: argparse.Namespace) -> int:
    """What a run prints, from the stored results of an earlier run of the same spec."""
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    total, failed = int(manifest["runs_total"]), int(manifest["runs_failed"])
    if args.json:
        status = "failed" if failed else "completed"
        print(
            orjson.dumps(
                {
                    "simulation_id": manifest["simulation_id"],
                    "status": status,
                    "runs_total": total,
                    "runs_failed": failed,
                    "results": str(folder),
                    "reused": True,
                }
            ).decode()
        )
    else:
        print(
            f"this spec ran before (completed {manifest['completed_at']}): showing its stored"
            " results; --rerun runs it again and replaces them",
            file=sys.stderr,
        )
        if not args.quiet:
            print(_table(folder / "averaged.csv") + "\n")
        print(f"{total} runs, {failed} failed. Results: {folder}")
    return EXIT_FAILED if failed else EXIT_OK


def _runs_failed(location: Path, failed_by_scheduler: int) -> int:
    """Failed runs as the manifest counts them: a run the scheduler saw complete whose results
    were lost on the way to the collector is failed there, and must not pass as a success.
    Without a readable manifest nothing is known to have succeeded."""
    try:
        manifest = orjson.loads((location / "manifest.json").read_bytes())
        counted = int(manifest["runs_failed"])
    except (OSError, ValueError, KeyError, TypeError):
        return max(failed_by_scheduler, 1)
    return max(counted, failed_by_scheduler)


def command_serve(args: argparse.Namespace) -> int:
    """One service as its own process; settings from the environment (README)."""
    if args.service == "node":
        from gossipsim.node.main import main as node_main

        return node_main(args.rest)
    import importlib

    from gossipsim.common.runtime.settings import ServiceSettings

    try:
        settings = ServiceSettings.from_env(os.environ)
    except ValueError as error:
        print(f"invalid setting: {error}", file=sys.stderr)
        return EXIT_INVALID
    configure_logging(settings.log_level)
    module = importlib.import_module(f"gossipsim.{args.service}.main")
    try:
        asyncio.run(module.serve(settings))
    except OSError as error:  # a port taken, an address that cannot be reached: no traceback
        print(f"gossipsim serve {args.service}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# --- commands that talk to a deployment (settings from the environment, README) -----------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gossipsim", description="Gossip-protocol simulations.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a simulation spec in this process")
    run.add_argument("spec", help="simulation spec (YAML or JSON) or a seed Simulation resource")
    run.add_argument("--graphs", help="directory of seed Graph resources for a seed Simulation")
    run.add_argument("--out", default="results", help="results directory (default: results)")
    run.add_argument("--shards", type=int, help="node shards per run (overrides the spec)")
    run.add_argument("--seed", type=int, help="simulation seed (overrides the spec)")
    run.add_argument("--runners", type=int, default=1, help="runs in parallel (default 1)")
    run.add_argument("--json", action="store_true", help="print a machine-readable summary")
    run.add_argument(
        "--rerun",
        action="store_true",
        help="run again a spec whose results --out already holds, replacing them",
    )
    shown = run.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even where it is no terminal (default: on a terminal)",
    )
    shown.add_argument(
        "--quiet",
        action="store_true",
        help="no progress and no table: only errors and the one-line summary",
    )
    run.set_defaults(handler=command_run)
    add_submit_command(commands)
    serve = commands.add_parser("serve", help="run one service as its own process")
    serve.add_argument("service", choices=["node", "runner", "scheduler", "collector"])
    serve.add_argument("rest", nargs=argparse.REMAINDER)
    serve.set_defaults(handler=command_serve)
    add_deployment_commands(commands)
    add_report_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gossipsim.common.runtime.variables import CLI_LOG_LEVEL, LOG_LEVEL_VAR

    args = build_parser().parse_args(argv)
    configure_logging(LOG_LEVEL_VAR.read_or(os.environ, CLI_LOG_LEVEL))
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
