"""The commands that follow and operate a deployment from outside it: ``status``, ``results``,
``cancel`` and ``dead-letters`` (``gossipsim.cli.main`` wires them into the command line).

They read the store (status documents, results) or talk to the broker (cancel, dead letters)
directly, so they work while services are down; every failure says what to check.

The pieces every command that reaches a deployment shares — :class:`CommandError`,
:func:`reports_errors`, :func:`deployment_settings`, :func:`reading_store`,
:func:`broker_error`, :func:`store_error`, :func:`checked_simulation_id` — are public here;
``submit`` and ``report`` use them too.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from gossipsim.common.messaging.topology import TopologyMissing

if TYPE_CHECKING:
    from gossipsim.common.runtime.settings import ServiceSettings
    from gossipsim.common.storage.store import ObjectStore

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2  # every gossipsim command's exit codes


class CommandError(Exception):
    """What failed and what to do about it, and the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def reports_errors(command: Callable[[argparse.Namespace], int]) -> Any:
    @functools.wraps(command)
    def reporting(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CommandError as error:
            print(f"gossipsim {args.command}: {error}", file=sys.stderr)
            return error.code

    return reporting


def deployment_settings() -> ServiceSettings:
    from gossipsim.common.runtime.settings import ServiceSettings

    try:
        return ServiceSettings.from_env(os.environ)
    except ValueError as error:
        raise CommandError(f"invalid setting: {error}", EXIT_INVALID) from None


def _redacted(url: str) -> str:
    """The URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def broker_error(settings: ServiceSettings, error: BaseException) -> CommandError:
    return CommandError(
        f"could not talk to RabbitMQ at {_redacted(settings.broker_url)}: {error}\n"
        "Check GOSSIPSIM_BROKER_URL (and GOSSIPSIM_PREFIX) and that the broker is running."
    )


def store_error(settings: ServiceSettings, error: BaseException) -> CommandError:
    return CommandError(
        f"could not read the store {settings.store!r}: {error}\n"
        "Check GOSSIPSIM_STORE, GOSSIPSIM_S3_ENDPOINT and the S3 credentials"
        " (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."
    )


def checked_simulation_id(simulation_id: str) -> str:
    """The id as typed, if it is a simulation id (the alphabet: gossipsim.common.spec.ids)."""
    from gossipsim.common.errors import InvalidInput
    from gossipsim.common.spec.ids import check_simulation_id

    try:
        return check_simulation_id(simulation_id)
    except InvalidInput:
        raise CommandError(
            f"invalid simulation id {simulation_id!r}: simulation ids are lower-case letters,"
            " digits, '.' and '-' (`gossipsim status` lists them)",
            EXIT_INVALID,
        ) from None


@asynccontextmanager
async def reading_store(settings: ServiceSettings) -> AsyncIterator[ObjectStore]:
    """The deployment's store for commands that only read: unlike the services' store, a
    missing bucket is reported, not created (a mistyped GOSSIPSIM_STORE must not make one)."""
    if not settings.store.startswith("s3://"):
        from gossipsim.common.storage.local_store import LocalDirectoryStore

        if not Path(settings.store).is_dir():
            raise CommandError(
                f"the store directory {settings.store!r} does not exist; set GOSSIPSIM_STORE to"
                " the deployment's results directory or s3://bucket/prefix"
            )
        yield LocalDirectoryStore(Path(settings.store))
        return
    from gossipsim.common.storage.s3_store import S3ObjectStore, parse_s3_url

    try:
        parse_s3_url(settings.store)
    except ValueError as error:
        raise CommandError(f"GOSSIPSIM_STORE: {error}", EXIT_INVALID) from None
    async with S3ObjectStore.open(
        settings.store, endpoint_url=settings.s3_endpoint, max_attempts=3, create_bucket=False
    ) as store:
        yield store


@reports_errors
def command_status(args: argparse.Namespace) -> int:
    """One simulation in detail, or every simulation the scheduler knows as a table."""
    from gossipsim.cli import status_view

    settings = deployment_settings()
    simulation_id = checked_simulation_id(args.simulation) if args.simulation else None

    async def read() -> Any:
        async with reading_store(settings) as store:
            if simulation_id is not None:
                return await status_view.load_status(store, simulation_id)
            return await status_view.load_all(store)

    try:
        found = asyncio.run(read())
    except OSError as error:
        raise store_error(settings, error) from None
    if simulation_id is not None and found is None:
        raise CommandError(
            f"no simulation {simulation_id!r} in {settings.store}: the scheduler keeps no"
            " status for it. `gossipsim status` lists the simulations it knows."
        )
    if args.json:  # the documents as stored
        stored = found.document if simulation_id is not None else [s.document for s in found]
        print(orjson.dumps(stored, option=orjson.OPT_INDENT_2).decode())
    elif simulation_id is not None:
        print(status_view.format_detail(found))
    elif found:
        print(status_view.format_table(found))
    else:
        print(f"no simulations in {settings.store} yet")
    return EXIT_OK


@reports_errors
def command_results(args: argparse.Namespace) -> int:
    """Copy a completed simulation's results from the deployment's store to a directory: the
    simulation given by id, or with ``--latest NAME`` the one of that name completed last."""
    from gossipsim.cli import status_view
    from gossipsim.cli.results_fetch import (
        DestinationError,
        NoLatest,
        NotCompleted,
        fetch_results,
        latest_simulation,
    )

    if (args.simulation is None) == (args.latest is None):
        raise CommandError(
            "give a simulation id, or --latest NAME for the simulation of that name that"
            " completed last (not both)",
            EXIT_INVALID,
        )
    settings = deployment_settings()
    chosen = checked_simulation_id(args.simulation) if args.simulation is not None else None

    async def fetch() -> Any:
        async with reading_store(settings) as store:
            simulation_id = chosen or await latest_simulation(store, args.latest)
            try:
                return simulation_id, await fetch_results(store, simulation_id, Path(args.out))
            except NotCompleted as error:
                return simulation_id, (error, await status_view.load_status(store, simulation_id))

    try:
        simulation_id, outcome = asyncio.run(fetch())
    except NoLatest as error:
        raise CommandError(
            f"{error} ({settings.store}). `gossipsim status` lists the simulations, with their"
            " names and ids"
        ) from None
    except DestinationError as error:
        raise CommandError(f"{error}; choose another --out directory") from None
    except OSError as error:
        raise store_error(settings, error) from None
    if isinstance(outcome, tuple):
        not_completed, status = outcome
        if status is not None and status_view.rejection(status):
            raise CommandError(
                f"{status_view.format_short(status)}\nIt has no results: fix the spec and"
                " submit it again."
            )
        if status is not None:
            raise CommandError(
                f"simulation {simulation_id!r} has not completed yet; its results are copied"
                f" once it has.\n{status_view.format_short(status)}"
                f" (`gossipsim status {simulation_id}` shows more)"
            )
        hint = "" if not_completed.known else " `gossipsim status` lists the known simulations."
        raise CommandError(f"{not_completed} ({settings.store}).{hint}")
    for key in outcome.skipped:
        print(f"skipped {key!r}: not a safe relative file name", file=sys.stderr)
    print(f"copied {outcome.files} files of {simulation_id}", file=sys.stderr)
    print(outcome.directory)
    return EXIT_OK


@reports_errors
def command_cancel(args: argparse.Namespace) -> int:
    """Publish simulation.cancel; the scheduler completes the simulation as cancelled."""
    import aiormq

    from gossipsim.common.messaging.messages import SimulationCancel
    from gossipsim.common.messaging.publishing import publish_message
    from gossipsim.common.runtime.connections import open_bus

    settings = deployment_settings()
    message = SimulationCancel(simulation_id=args.simulation, reason=args.reason)

    async def cancel() -> None:
        async with open_bus(settings) as (bus, topology):
            await publish_message(bus, topology, message)

    try:
        asyncio.run(cancel())
    except TopologyMissing as error:
        raise CommandError(str(error)) from None
    except (OSError, aiormq.exceptions.AMQPError) as error:
        raise broker_error(settings, error) from None
    print(
        f"cancellation of {args.simulation} requested (simulation.cancel published);"
        f" `gossipsim status {args.simulation}` shows when the scheduler has cancelled it"
    )
    return EXIT_OK


def _dead_letter_queue_call(settings: ServiceSettings, work: Callable[[Any], Any]) -> Any:
    """Run ``work(queue)`` on the deployment's dead-letter queue, reporting broker errors."""
    import aiormq

    from gossipsim.common.messaging.dead_letters import DeadLetterQueue

    topology = settings.topology()

    async def call() -> Any:
        async with DeadLetterQueue.open(settings.broker_url, topology) as queue:
            return await work(queue)

    try:
        return asyncio.run(call())
    except TopologyMissing as error:
        raise CommandError(str(error)) from None
    except (OSError, aiormq.exceptions.AMQPError) as error:
        raise broker_error(settings, error) from None


@reports_errors
def command_dead_letters_list(args: argparse.Namespace) -> int:
    """Show the dead-lettered messages without taking them off the queue."""
    from gossipsim.common.messaging.dead_letters import format_peek

    settings = deployment_settings()
    queue = settings.topology().dead_letters_queue
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


@reports_errors
def command_dead_letters_replay(args: argparse.Namespace) -> int:
    """Republish the selected dead-lettered messages to where they came from."""
    if not (args.kind or args.simulation or args.all):
        raise CommandError(
            "say which messages to replay: --kind K and/or --simulation SIM, or --all for"
            " every one; `gossipsim dead-letters list` shows what is there",
            EXIT_INVALID,
        )
    if args.all and (args.kind or args.simulation):
        raise CommandError(
            "--all replays every message: leave out --kind and --simulation", EXIT_INVALID
        )
    settings = deployment_settings()
    queue = settings.topology().dead_letters_queue

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


def add_deployment_commands(commands: Any) -> None:
    from gossipsim.common.messaging.messages import MESSAGE_TYPES

    status = commands.add_parser("status", help="status of the deployment's simulations")
    status.add_argument("simulation", nargs="?", help="one simulation in detail (default: all)")
    status.add_argument("--json", action="store_true", help="print the status document(s)")
    status.set_defaults(handler=command_status)
    results = commands.add_parser(
        "results", help="copy a completed simulation's results from the store"
    )
    results.add_argument("simulation", nargs="?", help="simulation id (as `submit` printed it)")
    results.add_argument(
        "--latest",
        metavar="NAME",
        help="instead of an id: the simulation named NAME that completed last",
    )
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
