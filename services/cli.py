"""The gossipsim command line: ``gossipsim run SPEC`` (embedded mode), ``serve`` (one service
of a deployment), and the commands that talk to a deployment: ``submit``, ``status``,
``results``, ``cancel`` and ``dead-letters``.

Exit codes: 0 success, 1 the simulation failed (some runs failed, or the services did) or a
deployment command could not do its work (no broker, no store, not completed yet), 2 the
input is invalid (a spec, an argument, a setting; nothing ran).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import io
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from gossipsim.common.errors import InvalidInput
from gossipsim.common.logging import configure_logging
from gossipsim.common.spec import load_spec_file

if TYPE_CHECKING:
    from gossipsim.common.settings import ServiceSettings
    from gossipsim.common.store import ObjectStore

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _progress_printer(stream: Any) -> Any:
    def show(done: int, total: int, rounds: int, elapsed: float) -> None:
        rate = rounds / elapsed if elapsed > 0 else 0.0
        width = 30
        filled = int(width * done / total) if total else width
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs  {rate:,.0f} rounds/s"
        )
        stream.flush()

    return show


def _apply_overrides(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    overrides = {
        key: getattr(args, key) for key in ("shards", "seed") if getattr(args, key) is not None
    }
    if not overrides:
        return spec
    if spec.get("kind") == "Simulation":
        return {**spec, "gossipsim": {**spec.get("gossipsim", {}), **overrides}}
    return {**spec, **overrides}


def _table(averaged_csv: Path) -> str:
    rows = list(csv.DictReader(io.StringIO(averaged_csv.read_text())))
    if not rows:
        return "(no runs)"
    params = [c for c in rows[0] if c.startswith("param_")]
    header = ["graph", "algorithm", *params, "runs", "mean", "min", "max", "converged"]
    lines = [header]
    for row in rows:
        mean = row["mean_rounds"]
        lines.append(
            [
                row["graph"],
                row["algorithm"],
                *(row[p] for p in params),
                row["repetitions"],
                f"{float(mean):.2f}" if mean not in ("", "nan") else "-",
                row["min_rounds"] or "-",
                row["max_rounds"] or "-",
                f"{float(row['converged_share']):.0%}",
            ]
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines
    )


def command_run(args: argparse.Namespace) -> int:
    from gossipsim.embedded import run_embedded

    try:
        spec = _apply_overrides(load_spec_file(Path(args.spec)), args)
    except InvalidInput as error:
        print(f"invalid spec: {error}", file=sys.stderr)
        return EXIT_INVALID
    progress = None if args.json or not sys.stderr.isatty() else _progress_printer(sys.stderr)
    outcome = asyncio.run(
        run_embedded(
            spec,
            out_dir=Path(args.out),
            graphs_dir=Path(args.graphs) if args.graphs else None,
            base_dir=Path(args.spec).resolve().parent,
            runners=args.runners,
            progress=progress,
        )
    )
    if progress is not None:
        sys.stderr.write("\n")
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
    failed = sum(1 for s in state.status.values() if s.value == "failed")
    location = Path(outcome.location)
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
        print(_table(location / "averaged.csv"))
        print(f"\n{len(state.plans)} runs, {failed} failed. Results: {location}")
        for run_id, error in sorted(state.errors.items())[:5]:
            print(f"  failed {run_id}: {error}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def command_serve(args: argparse.Namespace) -> int:
    """One service as its own process; settings from the environment (README)."""
    if args.service == "node":
        from gossipsim.node.main import main as node_main

        return node_main(args.rest)
    import importlib

    from gossipsim.common.settings import ServiceSettings

    settings = ServiceSettings.from_env(os.environ)
    configure_logging(settings.log_level)
    module = importlib.import_module(f"gossipsim.{args.service}.main")
    asyncio.run(module.serve(settings))
    return EXIT_OK


def command_submit(args: argparse.Namespace) -> int:
    """Publish simulation.submit to the configured broker and print the simulation id."""
    from gossipsim.common.connections import open_bus
    from gossipsim.common.messages import SimulationSubmit
    from gossipsim.common.publishing import publish_message
    from gossipsim.common.settings import ServiceSettings
    from gossipsim.common.spec import simulation_id_for

    try:
        spec = _apply_overrides(load_spec_file(Path(args.spec)), args)
    except InvalidInput as error:
        print(f"invalid spec: {error}", file=sys.stderr)
        return EXIT_INVALID
    settings = ServiceSettings.from_env(os.environ)
    graphs = str(Path(args.graphs).resolve()) if args.graphs else ""
    message = SimulationSubmit(spec=spec, simulation_id=simulation_id_for(spec), graphs_dir=graphs)

    async def submit() -> None:
        async with open_bus(settings) as (bus, topology):
            await publish_message(bus, topology, message)

    asyncio.run(submit())
    print(message.simulation_id)
    return EXIT_OK


# --- commands that talk to a deployment (settings from the environment, README) -----------


class _CommandError(Exception):
    """What failed and what to do about it, and the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _reports_errors(command: Callable[[argparse.Namespace], int]) -> Any:
    @functools.wraps(command)
    def reporting(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except _CommandError as error:
            print(f"gossipsim {args.command}: {error}", file=sys.stderr)
            return error.code

    return reporting


def _deployment_settings() -> ServiceSettings:
    from gossipsim.common.settings import ServiceSettings

    try:
        return ServiceSettings.from_env(os.environ)
    except ValueError as error:
        raise _CommandError(f"invalid setting: {error}", EXIT_INVALID) from None


def _redacted(url: str) -> str:
    """The URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _broker_error(settings: ServiceSettings, error: BaseException) -> _CommandError:
    return _CommandError(
        f"could not talk to RabbitMQ at {_redacted(settings.broker_url)}: {error}\n"
        "Check GOSSIPSIM_BROKER_URL (and GOSSIPSIM_PREFIX) and that the broker is running."
    )


def _store_error(settings: ServiceSettings, error: BaseException) -> _CommandError:
    return _CommandError(
        f"could not read the store {settings.store!r}: {error}\n"
        "Check GOSSIPSIM_STORE, GOSSIPSIM_S3_ENDPOINT and the S3 credentials"
        " (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."
    )


def _checked_simulation_id(simulation_id: str) -> str:
    from gossipsim.status_view import status_key

    try:
        status_key(simulation_id)
    except ValueError as error:
        raise _CommandError(str(error), EXIT_INVALID) from None
    return simulation_id


@asynccontextmanager
async def _reading_store(settings: ServiceSettings) -> AsyncIterator[ObjectStore]:
    """The deployment's store for commands that only read: unlike the services' store, a
    missing bucket is reported, not created (a mistyped GOSSIPSIM_STORE must not make one)."""
    if not settings.store.startswith("s3://"):
        from gossipsim.common.local_store import LocalDirectoryStore

        if not Path(settings.store).is_dir():
            raise _CommandError(
                f"the store directory {settings.store!r} does not exist; set GOSSIPSIM_STORE to"
                " the deployment's results directory or s3://bucket/prefix"
            )
        yield LocalDirectoryStore(Path(settings.store))
        return
    from gossipsim.common.s3_store import S3ObjectStore, parse_s3_url

    try:
        parse_s3_url(settings.store)
    except ValueError as error:
        raise _CommandError(f"GOSSIPSIM_STORE: {error}", EXIT_INVALID) from None
    async with S3ObjectStore.open(
        settings.store, endpoint_url=settings.s3_endpoint, max_attempts=3, create_bucket=False
    ) as store:
        yield store


@_reports_errors
def command_status(args: argparse.Namespace) -> int:
    """One simulation in detail, or every simulation the scheduler knows as a table."""
    from gossipsim import status_view

    settings = _deployment_settings()
    simulation_id = _checked_simulation_id(args.simulation) if args.simulation else None

    async def read() -> Any:
        async with _reading_store(settings) as store:
            if simulation_id is not None:
                return await status_view.load_status(store, simulation_id)
            return await status_view.load_all(store)

    try:
        found = asyncio.run(read())
    except OSError as error:
        raise _store_error(settings, error) from None
    if simulation_id is not None and found is None:
        raise _CommandError(
            f"no simulation {simulation_id!r} in {settings.store}: the scheduler keeps no"
            " status for it. `gossipsim status` lists the simulations it knows."
        )
    if args.json:
        print(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
    elif simulation_id is not None:
        print(status_view.format_detail(found))
    elif found:
        print(status_view.format_table(found))
    else:
        print(f"no simulations in {settings.store} yet")
    return EXIT_OK


@_reports_errors
def command_results(args: argparse.Namespace) -> int:
    """Copy a completed simulation's results from the deployment's store to a directory."""
    from gossipsim import status_view
    from gossipsim.results_fetch import DestinationError, NotCompleted, fetch_results

    settings = _deployment_settings()
    simulation_id = _checked_simulation_id(args.simulation)

    async def fetch() -> Any:
        async with _reading_store(settings) as store:
            try:
                return await fetch_results(store, simulation_id, Path(args.out))
            except NotCompleted as error:
                return error, await status_view.load_status(store, simulation_id)

    try:
        outcome = asyncio.run(fetch())
    except DestinationError as error:
        raise _CommandError(f"{error}; choose another --out directory") from None
    except OSError as error:
        raise _store_error(settings, error) from None
    if isinstance(outcome, tuple):
        not_completed, status = outcome
        if status is not None and status_view.rejection(status):
            raise _CommandError(
                f"{status_view.format_short(status)}\nIt has no results: fix the spec and"
                " submit it again."
            )
        if status is not None:
            raise _CommandError(
                f"simulation {simulation_id!r} has not completed yet; its results are copied"
                f" once it has.\n{status_view.format_short(status)}"
                f" (`gossipsim status {simulation_id}` shows more)"
            )
        hint = "" if not_completed.known else " `gossipsim status` lists the known simulations."
        raise _CommandError(f"{not_completed} ({settings.store}).{hint}")
    for key in outcome.skipped:
        print(f"skipped {key!r}: not a safe relative file name", file=sys.stderr)
    print(f"copied {outcome.files} files of {simulation_id}", file=sys.stderr)
    print(outcome.directory)
    return EXIT_OK


@_reports_errors
def command_cancel(args: argparse.Namespace) -> int:
    """Publish simulation.cancel; the scheduler completes the simulation as cancelled."""
    import aiormq

    from gossipsim.common.connections import open_bus
    from gossipsim.common.messages import SimulationCancel
    from gossipsim.common.publishing import publish_message

    settings = _deployment_settings()
    message = SimulationCancel(simulation_id=args.simulation, reason=args.reason)

    async def cancel() -> None:
        async with open_bus(settings) as (bus, topology):
            await publish_message(bus, topology, message)

    try:
        asyncio.run(cancel())
    except (OSError, aiormq.exceptions.AMQPError) as error:
        raise _broker_error(settings, error) from None
    print(
        f"cancellation of {args.simulation} requested (simulation.cancel published);"
        f" `gossipsim status {args.simulation}` shows when the scheduler has cancelled it"
    )
    return EXIT_OK


def _dead_letter_queue_call(settings: ServiceSettings, work: Callable[[Any], Any]) -> Any:
    """Run ``work(queue)`` on the deployment's dead-letter queue, reporting broker errors."""
    import aiormq

    from gossipsim.common.dead_letters import DeadLetterQueue, MissingTopology
    from gossipsim.common.topology import Topology

    topology = Topology(prefix=settings.prefix, delivery_limit=settings.delivery_limit)

    async def call() -> Any:
        async with DeadLetterQueue.open(settings.broker_url, topology) as queue:
            return await work(queue)

    try:
        return asyncio.run(call())
    except MissingTopology as error:
        raise _CommandError(str(error)) from None
    except (OSError, aiormq.exceptions.AMQPError) as error:
        raise _broker_error(settings, error) from None


@_reports_errors
def command_dead_letters_list(args: argparse.Namespace) -> int:
    """Show the dead-lettered messages without taking them off the queue."""
    from gossipsim.common.dead_letters import format_peek

    settings = _deployment_settings()
    queue = f"{settings.prefix}.dead-letters"
    peek = _dead_letter_queue_call(settings, lambda dlq: dlq.peek(args.limit))
    if args.json:
        body = {
            "queue": queue,
            "total": peek.total,
            "messages": [m.as_json() for m in peek.letters],
        }
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return EXIT_OK
    print(format_peek(peek, queue))
    return EXIT_OK


@_reports_errors
def command_dead_letters_replay(args: argparse.Namespace) -> int:
    """Republish the selected dead-lettered messages to where they came from."""
    if not (args.kind or args.simulation or args.all):
        raise _CommandError(
            "say which messages to replay: --kind K and/or --simulation SIM, or --all for"
            " every one; `gossipsim dead-letters list` shows what is there",
            EXIT_INVALID,
        )
    if args.all and (args.kind or args.simulation):
        raise _CommandError(
            "--all replays every message: leave out --kind and --simulation", EXIT_INVALID
        )
    settings = _deployment_settings()
    queue = f"{settings.prefix}.dead-letters"

    def selected(letter: Any) -> bool:
        return (args.kind is None or letter.kind == args.kind) and (
            args.simulation is None or letter.simulation_id == args.simulation
        )

    outcome = _dead_letter_queue_call(settings, lambda dlq: dlq.replay(selected))
    print(f"replayed {outcome.replayed} message(s) from {queue}; {outcome.remaining} remain there")
    failed = 0
    for what, kinds in (
        ("are no message kind, so their exchange is unknown", outcome.unknown_kind),
        ("were not routed to any queue (are the services' queues there?)", outcome.unroutable),
    ):
        if kinds:
            failed += len(kinds)
            names = ", ".join(sorted({repr(k) for k in kinds}))
            print(f"{len(kinds)} selected message(s) ({names}) {what}; left in {queue}")
    return EXIT_FAILED if failed else EXIT_OK


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
    run.set_defaults(handler=command_run)
    submit = commands.add_parser("submit", help="submit a simulation to the configured broker")
    submit.add_argument("spec", help="simulation spec or seed Simulation resource")
    submit.add_argument(
        "--graphs", help="directory of seed Graph resources (as the services see it)"
    )
    submit.add_argument("--shards", type=int, help="node shards per run (overrides the spec)")
    submit.add_argument("--seed", type=int, help="simulation seed (overrides the spec)")
    submit.set_defaults(handler=command_submit)
    serve = commands.add_parser("serve", help="run one service as its own process")
    serve.add_argument("service", choices=["node", "runner", "scheduler", "collector"])
    serve.add_argument("rest", nargs=argparse.REMAINDER)
    serve.set_defaults(handler=command_serve)
    _add_deployment_commands(commands)
    return parser


def _add_deployment_commands(commands: Any) -> None:
    from gossipsim.common.messages import MESSAGE_TYPES

    status = commands.add_parser("status", help="status of the deployment's simulations")
    status.add_argument("simulation", nargs="?", help="one simulation in detail (default: all)")
    status.add_argument("--json", action="store_true", help="print the status document(s)")
    status.set_defaults(handler=command_status)
    results = commands.add_parser(
        "results", help="copy a completed simulation's results from the store"
    )
    results.add_argument("simulation", help="simulation id (as `submit` printed it)")
    results.add_argument(
        "--out", default=".", help="directory to copy into, as OUT/SIMULATION/ (default: .)"
    )
    results.set_defaults(handler=command_results)
    cancel = commands.add_parser("cancel", help="cancel a submitted simulation")
    cancel.add_argument("simulation", help="simulation id")
    cancel.add_argument("--reason", default="cancelled from the command line")
    cancel.set_defaults(handler=command_cancel)
    dead = commands.add_parser("dead-letters", help="inspect and replay dead-lettered messages")
    actions = dead.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="show dead-lettered messages (they stay queued)")
    listing.add_argument("--limit", type=_positive, default=20, help="most shown (default 20)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=command_dead_letters_list)
    replay = actions.add_parser("replay", help="republish dead-lettered messages")
    replay.add_argument(
        "--kind",
        choices=sorted(MESSAGE_TYPES),
        metavar="KIND",
        help="only messages of this kind (their routing key), e.g. run.start",
    )
    replay.add_argument("--simulation", help="only messages of this simulation")
    replay.add_argument("--all", action="store_true", help="every dead-lettered message")
    replay.set_defaults(handler=command_dead_letters_replay)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(os.environ.get("GOSSIPSIM_LOG_LEVEL", "warning"))
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
